import { BV_JOB_NAMESPACE, datasetNames, LineageClient, LineageEmitter, type PlatformConfig } from '@bitvelocity/core';
import type { ServiceName } from './deps.js';

/** The domain tables each service writes in the same transaction as its outbox rows. */
const TABLES: Record<ServiceName, string[]> = {
  product: ['products'],
  customer: ['customers'],
  order: ['orders', 'order_lines'],
  device: ['devices'],
};

/**
 * Reports each started service as a STREAMING job `outbox.<service>s` (jobType OUTBOX) from its domain tables to the
 * outbox table: a START when the service starts. Never throws and waits at most `flushMs`; without BV_LINEAGE_URL
 * (or _FILE) it is a no-op.
 */
export async function reportOutboxLineage(
  config: PlatformConfig,
  services: readonly ServiceName[],
  options: { client?: LineageClient; flushMs?: number } = {},
): Promise<void> {
  const client = options.client ?? LineageClient.fromEnv();
  try {
    if (client.transportName === 'noop') return;
    const table = (name: string) => datasetNames.postgres(config.postgres, config.postgres.database, 'public', name);
    const emitter = new LineageEmitter(client);
    for (const service of services)
      emitter
        .jobRun({
          job: { namespace: BV_JOB_NAMESPACE, name: `outbox.${service}s` },
          processingType: 'STREAMING',
          jobType: 'OUTBOX',
          inputs: TABLES[service].map(table),
          outputs: [table('outbox')],
        })
        .start();
  } catch {
    // lineage is best effort: it never stops a service from starting
  } finally {
    if (!options.client) await client.close(options.flushMs ?? 2_000).catch(() => {});
  }
}
