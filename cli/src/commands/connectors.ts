import { loadPlatformConfig } from '@bitvelocity/core';
import { Command } from 'commander';
import { print } from '../output.js';

/** `bv connectors ...`: the Debezium outbox connector on Kafka Connect. */
export function connectorsCommand(): Command {
  const connectors = new Command('connectors').description('the Debezium connector that publishes the outbox to Kafka');

  connectors
    .command('apply')
    .description('create or update the publication, topics and connector (idempotent), and wait until it runs')
    .action(async () => {
      const { applyOutboxConnector, defaultOutboxConnector } = await import('@bitvelocity/ingest');
      const report = await applyOutboxConnector(loadPlatformConfig(), defaultOutboxConnector());
      const { created, partitionsIncreased } = report.topics;
      print(
        `topics: created ${created.join(', ') || 'none'}; more partitions: ${partitionsIncreased.join(', ') || 'none'}`,
      );
      print(`publication: ${report.publicationCreated ? 'created' : 'exists'}`);
      print(
        `connector ${report.status.name}: ${report.status.connector}, tasks ${report.status.tasks.map((t) => t.state).join(', ')}`,
      );
    });

  connectors
    .command('status')
    .description('connector and task state, and the replication slot lag')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { defaultOutboxConnector, outboxConnectorStatus } = await import('@bitvelocity/ingest');
      const status = await outboxConnectorStatus(loadPlatformConfig(), defaultOutboxConnector());
      if (options.json) print(JSON.stringify(status, null, 2));
      else {
        print(`${status.name}: ${status.connector}`);
        for (const task of status.tasks)
          print(`  task ${task.id}: ${task.state}${task.trace ? ` (${task.trace})` : ''}`);
        print(
          status.slot
            ? `  slot: ${status.slot.active ? 'active' : 'inactive'}, lag ${status.slot.lagBytes} B, WAL retained ${status.slot.retainedBytes} B`
            : '  slot: none',
        );
      }
      if (status.connector !== 'RUNNING' || status.tasks.some((t) => t.state !== 'RUNNING')) process.exitCode = 3;
    });

  connectors
    .command('restart')
    .description('restart the connector and its tasks')
    .action(async () => {
      const { defaultOutboxConnector, restartOutboxConnector } = await import('@bitvelocity/ingest');
      await restartOutboxConnector(loadPlatformConfig(), defaultOutboxConnector());
      print('restart requested');
    });

  return connectors;
}
