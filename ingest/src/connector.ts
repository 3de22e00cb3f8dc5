import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BvError, bvHome, type Env, type PlatformConfig, postgresUrl, waitFor } from '@bitvelocity/core';
import { Admin } from '@platformatic/kafka';
import pg from 'pg';
import { reportConnectorLineage } from './lineage.js';
import { type ProvisionReport, platformTopics, provisionTopics } from './topics.js';

export interface OutboxConnectorOptions {
  name: string;
  /** The logical replication slot; the services' outbox retention reads its confirmed position. */
  slotName: string;
  publicationName: string;
  /**
   * A properties file on the Connect worker's filesystem holding `database.password`; the connector config refers to
   * it through Connect's FileConfigProvider, so the password is never in the config Connect stores and echoes.
   */
  secretsFile: string;
}

export function defaultOutboxConnector(env: Env = process.env): OutboxConnectorOptions {
  return {
    name: 'bv-outbox',
    slotName: 'bv_outbox',
    publicationName: 'bv_outbox',
    secretsFile: env.BV_CONNECT_SECRETS_FILE || join(bvHome(env), 'config', 'connect', 'outbox-connector.properties'),
  };
}

/**
 * The Debezium Postgres connector that publishes the outbox: pgoutput from a publication of the outbox alone,
 * EventRouter routing each row to the topic named by aggregate_type, key = aggregate id, value = the envelope
 * (payload column, expanded from JSON), headers eventType, traceparent, traceId, tenantId.
 */
export function outboxConnectorConfig(config: PlatformConfig, options: OutboxConnectorOptions): Record<string, string> {
  const { host, port, user, database } = config.postgres;
  return {
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    'tasks.max': '1',
    'plugin.name': 'pgoutput',
    'database.hostname': host,
    'database.port': String(port),
    'database.user': user,
    'database.password': `\${file:${options.secretsFile}:database.password}`,
    'database.dbname': database,
    'topic.prefix': 'bv',
    'slot.name': options.slotName,
    'publication.name': options.publicationName,
    'publication.autocreate.mode': 'disabled',
    'table.include.list': 'public.outbox',
    // A fresh outbox starts streaming from now; rows written while the connector was stopped are in the slot.
    'snapshot.mode': 'no_data',
    'poll.interval.ms': '50',
    // Heartbeats let the slot's confirmed position advance while the outbox is quiet, so WAL does not pile up.
    'heartbeat.interval.ms': '5000',
    'tombstones.on.delete': 'false',
    'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
    // The record value is the outbox payload's JSON text as stored, byte for byte: expanding it into a Connect struct
    // (table.expand.json.payload) drops every null field, e.g. a customer's "address": null, which the event schema
    // requires, so such events failed validation downstream.
    'value.converter': 'org.apache.kafka.connect.storage.StringConverter',
    transforms: 'outbox',
    'transforms.outbox.type': 'io.debezium.transforms.outbox.EventRouter',
    'transforms.outbox.table.field.event.id': 'id',
    'transforms.outbox.table.field.event.key': 'aggregate_id',
    'transforms.outbox.table.field.event.payload': 'payload',
    'transforms.outbox.table.expand.json.payload': 'false',
    'transforms.outbox.route.by.field': 'aggregate_type',
    'transforms.outbox.route.topic.replacement': '${routedByValue}',
    'transforms.outbox.table.fields.additional.placement':
      'event_type:header:eventType,traceparent:header:traceparent,trace_id:header:traceId,tenant_id:header:tenantId',
    // Only the heartbeat topic is created by Connect; the aggregate topics are provisioned with their declared shape.
    'topic.creation.default.replication.factor': '1',
    'topic.creation.default.partitions': '1',
  };
}

async function connectRequest<T>(
  connectUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T | undefined> {
  let response: Response;
  try {
    response = await fetch(`${connectUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (cause) {
    throw new BvError('CONNECT_REQUEST_FAILED', `Kafka Connect at ${connectUrl} did not answer ${method} ${path}`, {
      cause,
      retriable: true,
    });
  }
  if (response.status === 404) return undefined;
  const text = await response.text();
  if (!response.ok) {
    throw new BvError('CONNECT_REQUEST_FAILED', `${method} ${path} answered ${response.status}: ${text}`, {
      retriable: response.status >= 500,
    });
  }
  return text ? (JSON.parse(text) as T) : undefined;
}

export interface ConnectorStatus {
  name: string;
  connector: string;
  tasks: { id: number; state: string; trace?: string }[];
  slot: { active: boolean; lagBytes: number; retainedBytes: number } | null;
}

export async function outboxConnectorStatus(
  config: PlatformConfig,
  options: OutboxConnectorOptions,
): Promise<ConnectorStatus> {
  const status = await connectRequest<{
    connector: { state: string };
    tasks: { id: number; state: string; trace?: string }[];
  }>(config.connect.url, 'GET', `/connectors/${options.name}/status`);
  const client = new pg.Client(postgresUrl(config.postgres));
  await client.connect();
  try {
    const { rows } = await client.query<{ active: boolean; lag: string; retained: string }>(
      `SELECT active, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint AS lag,
              coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint AS retained
       FROM pg_replication_slots WHERE slot_name = $1`,
      [options.slotName],
    );
    const slot = rows[0];
    return {
      name: options.name,
      connector: status?.connector.state ?? 'NOT_DEPLOYED',
      tasks: (status?.tasks ?? []).map((t) => ({
        id: t.id,
        state: t.state,
        ...(t.trace ? { trace: t.trace.split('\n')[0] } : {}),
      })),
      slot: slot ? { active: slot.active, lagBytes: Number(slot.lag), retainedBytes: Number(slot.retained) } : null,
    };
  } finally {
    await client.end();
  }
}

export interface ApplyReport {
  topics: ProvisionReport;
  publicationCreated: boolean;
  status: ConnectorStatus;
}

/**
 * Idempotently deploys the outbox connector: the publication (outbox only, inserts only, rows published as the
 * partitioned parent), the secret file, the declared topics, then the connector config (PUT creates or updates),
 * and waits until the connector and its task run.
 */
export async function applyOutboxConnector(
  config: PlatformConfig,
  options: OutboxConnectorOptions,
  timeoutMs = 60_000,
): Promise<ApplyReport> {
  const client = new pg.Client(postgresUrl(config.postgres));
  await client.connect();
  let publicationCreated = false;
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [
      options.publicationName,
    ]);
    if (!rowCount) {
      await client.query(
        `CREATE PUBLICATION ${pg.escapeIdentifier(options.publicationName)} FOR TABLE outbox
         WITH (publish = 'insert', publish_via_partition_root = true)`,
      );
      publicationCreated = true;
    }
  } finally {
    await client.end();
  }
  mkdirSync(dirname(options.secretsFile), { recursive: true, mode: 0o700 });
  writeFileSync(options.secretsFile, `database.password=${config.postgres.password.replaceAll('\\', '\\\\')}\n`, {
    mode: 0o600,
  });
  chmodSync(options.secretsFile, 0o600);

  const admin = new Admin({ clientId: 'bv-connectors', bootstrapBrokers: config.kafka.bootstrapServers });
  let topics: ProvisionReport;
  try {
    topics = await provisionTopics(admin, platformTopics());
  } finally {
    await admin.close();
  }

  await connectRequest(
    config.connect.url,
    'PUT',
    `/connectors/${options.name}/config`,
    outboxConnectorConfig(config, options),
  );
  let last = 'UNASSIGNED';
  const status = await waitFor(
    `${options.name} RUNNING`,
    async () => {
      const status = await outboxConnectorStatus(config, options);
      last = status.connector;
      const failed = status.tasks.find((t) => t.state === 'FAILED');
      if (status.connector === 'FAILED' || failed) {
        throw new BvError('CONNECTOR_FAILED', `${options.name} failed: ${failed?.trace ?? status.connector}`, {
          details: { ...status },
        });
      }
      const running =
        status.connector === 'RUNNING' && status.tasks.length > 0 && status.tasks.every((t) => t.state === 'RUNNING');
      return running ? status : undefined;
    },
    {
      timeoutMs,
      intervalMs: 500,
      timeoutError: () =>
        new BvError('CONNECTOR_FAILED', `${options.name} is not RUNNING after ${timeoutMs / 1000}s (${last})`),
    },
  );
  await reportConnectorLineage(config, options.name);
  return { topics, publicationCreated, status };
}

/** Restarts the connector and all its tasks (e.g. after a FAILED task once the cause is fixed). */
export async function restartOutboxConnector(config: PlatformConfig, options: OutboxConnectorOptions): Promise<void> {
  await connectRequest(
    config.connect.url,
    'POST',
    `/connectors/${options.name}/restart?includeTasks=true&onlyFailed=false`,
  );
}
