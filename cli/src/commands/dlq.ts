import { BvError, loadPlatformConfig } from '@bitvelocity/core';
import { Command } from 'commander';
import { print } from '../output.js';

const offset = (value: string) => {
  if (!/^[0-9]+$/.test(value)) throw new BvError('JOB_BAD_OPTION', `"${value}" is not an offset (0 or more)`);
  return BigInt(value);
};
const natural = (value: string) => {
  if (!/^[0-9]+$/.test(value)) throw new BvError('JOB_BAD_OPTION', `"${value}" is not a number (0 or more)`);
  return Number(value);
};
/** `orders` or `orders.dlq`: the dead-letter topic. */
const dlqTopicOf = (topic: string) => (topic.endsWith('.dlq') ? topic : `${topic}.dlq`);

interface FilterOptions {
  code?: string;
  partition?: number;
  fromOffset?: bigint;
  toOffset?: bigint;
  limit?: number;
}
const filterOf = (o: FilterOptions) => ({
  ...(o.code ? { code: o.code } : {}),
  ...(o.partition !== undefined ? { partition: o.partition } : {}),
  ...(o.fromOffset !== undefined ? { fromOffset: o.fromOffset } : {}),
  ...(o.toOffset !== undefined ? { toOffset: o.toOffset } : {}),
  ...(o.limit !== undefined ? { limit: o.limit } : {}),
});
const withFilters = (command: Command) =>
  command
    .option('--code <code>', 'only this reason code (e.g. SCHEMA_VIOLATION)')
    .option('--partition <p>', "only dead letters of this partition of the original's topic", natural)
    .option('--from-offset <offset>', "original's offset, inclusive", offset)
    .option('--to-offset <offset>', "original's offset, inclusive", offset);

async function withDeadLetters<T>(
  use: (dlq: import('@bitvelocity/streams').DeadLetterTopics) => Promise<T>,
): Promise<T> {
  const { DeadLetterTopics } = await import('@bitvelocity/streams');
  const dlq = await DeadLetterTopics.create(loadPlatformConfig().kafka.bootstrapServers);
  try {
    return await use(dlq);
  } finally {
    await dlq.close();
  }
}

type QuarantineCount = {
  reason_code: string;
  n: bigint;
  first: string | null;
  last: string | null;
};

/** Silver's quarantine per reason (the lake is opened only for this). */
async function quarantineCounts(schema: string): Promise<QuarantineCount[]> {
  const lakehouse = await import('@bitvelocity/lakehouse');
  const lake = await lakehouse.openLake(loadPlatformConfig());
  try {
    const table = lakehouse.qualifiedName(lakehouse.silverTables(schema).quarantine);
    return await lake.rows<QuarantineCount>(
      `SELECT reason_code, count(*) AS n, min(_ingested_at)::VARCHAR AS first, max(_ingested_at)::VARCHAR AS last
         FROM ${table} GROUP BY reason_code ORDER BY n DESC, reason_code`,
    );
  } finally {
    lake.close();
  }
}

async function quarantineRows(schema: string, options: FilterOptions) {
  const lakehouse = await import('@bitvelocity/lakehouse');
  const lake = await lakehouse.openLake(loadPlatformConfig());
  try {
    const table = lakehouse.qualifiedName(lakehouse.silverTables(schema).quarantine);
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (options.code) where.push(`reason_code = $${params.push(options.code)}`);
    if (options.partition !== undefined) where.push(`_bronze_partition = $${params.push(options.partition)}`);
    if (options.fromOffset !== undefined) where.push(`_bronze_offset >= $${params.push(Number(options.fromOffset))}`);
    if (options.toOffset !== undefined) where.push(`_bronze_offset <= $${params.push(Number(options.toOffset))}`);
    return await lake.rows<Record<string, unknown>>(
      `SELECT reason_code, reason, _bronze_topic AS topic, _bronze_partition AS partition, _bronze_offset AS offset,
              event_id, event_type, _ingested_at::VARCHAR AS ingested_at, left(envelope, 200) AS envelope
         FROM ${table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY _bronze_rowid LIMIT ${options.limit ?? 50}`,
      params,
    );
  } finally {
    lake.close();
  }
}

const json = (value: unknown) =>
  JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? undefined : v), 2);

/** `bv dlq ...`: the dead-letter topics (`<topic>.dlq`) and Silver's quarantine. */
export function dlqCommand(): Command {
  const dlq = new Command('dlq').description("dead-letter topics (<topic>.dlq) and Silver's quarantine");

  dlq
    .command('list')
    .description('every dead-letter topic with its count per reason code, and the quarantine per reason')
    .option('--prefix <prefix>', 'only dead-letter topics whose name starts with this')
    .option('--quarantine-schema <schema>', "the schema of Silver's quarantine", 'silver')
    .option('--no-quarantine', "leave out Silver's quarantine")
    .option('--json', 'machine-readable output')
    .action(async (options: { prefix?: string; quarantineSchema: string; quarantine: boolean; json?: boolean }) => {
      const topics = await withDeadLetters((d) => d.summary(options.prefix ?? ''));
      let quarantine: QuarantineCount[] | { unavailable: string } = [];
      if (options.quarantine) {
        quarantine = await quarantineCounts(options.quarantineSchema).catch((error: Error) => ({
          unavailable: error.message,
        }));
      }
      if (options.json) {
        print(json({ topics, quarantine }));
        return;
      }
      print(['DLQ TOPIC', 'COUNT', 'BY CODE', 'OLDEST', 'NEWEST'].join('\t'));
      for (const t of topics) {
        const codes = Object.entries(t.byCode)
          .map(([code, n]) => `${code}=${n}`)
          .join(',');
        print([t.dlqTopic, t.count, codes || '-', t.oldest ?? '-', t.newest ?? '-'].join('\t'));
      }
      if (!options.quarantine) return;
      print('');
      if ('unavailable' in quarantine) {
        print(`quarantine (${options.quarantineSchema}.quarantine): unavailable: ${quarantine.unavailable}`);
        return;
      }
      print(['QUARANTINE REASON', 'COUNT', 'FIRST', 'LAST'].join('\t'));
      for (const q of quarantine) print([q.reason_code, q.n, q.first ?? '-', q.last ?? '-'].join('\t'));
    });

  withFilters(
    dlq
      .command('show')
      .description('the dead letters of a topic (or `quarantine`): reason, original coordinates, size, value preview')
      .argument('<topic>', 'the source topic or its .dlq, or `quarantine` for Silver')
      .option('--limit <n>', 'at most this many', natural, 50)
      .option('--quarantine-schema <schema>', "the schema of Silver's quarantine", 'silver')
      .option('--json', 'machine-readable output'),
  ).action(async (topic: string, options: FilterOptions & { quarantineSchema: string; json?: boolean }) => {
    if (topic === 'quarantine') {
      const rows = await quarantineRows(options.quarantineSchema, options);
      if (options.json) print(json(rows));
      else
        for (const r of rows)
          print(`${r.topic}[${r.partition}]@${r.offset}\t${r.reason_code}\t${r.event_id ?? '-'}\t${r.reason}`);
      return;
    }
    const letters = await withDeadLetters((d) => d.list(dlqTopicOf(topic), filterOf(options)));
    if (options.json) {
      print(json(letters.map((l) => ({ ...l, valuePreview: l.value.subarray(0, 200).toString('utf8') }))));
      return;
    }
    print(['ORIGINAL', 'CODE', 'JOB', 'BYTES', 'REASON'].join('\t'));
    for (const l of letters) {
      const bytes = l.originalBytes === null ? `${l.valueBytes}` : `${l.valueBytes} of ${l.originalBytes} (cut)`;
      print([`${l.topic}[${l.partition}]@${l.offset}`, l.code, l.job || '-', bytes, l.reason].join('\t'));
    }
    print(`${letters.length} dead letter(s) in ${dlqTopicOf(topic)}`);
  });

  withFilters(
    dlq
      .command('replay')
      .description(
        'send the originals of the dead letters back to their topic (or --to another), without bv-dlq-* headers',
      )
      .argument('<topic>', 'the source topic or its .dlq')
      .option('--to <topic>', 'send them here instead of the topic each came from'),
  ).action(async (topic: string, options: FilterOptions & { to?: string }) => {
    const result = await withDeadLetters((d) =>
      d.replay(dlqTopicOf(topic), { ...filterOf(options), ...(options.to ? { to: options.to } : {}) }),
    );
    print(`replayed ${result.replayed} dead letter(s) from ${dlqTopicOf(topic)} to ${options.to ?? 'their topics'}`);
    for (const l of result.refused)
      print(
        `  refused ${l.topic}[${l.partition}]@${l.offset}: cut to fit and the original is no longer in ${l.topic} (only ${l.valueBytes} of ${l.originalBytes} bytes remain)`,
      );
    if (result.refused.length > 0) process.exitCode = 1;
  });

  dlq
    .command('purge')
    .description('delete every dead letter of a topic up to now (Kafka DeleteRecords); needs --yes')
    .argument('<topic>', 'the source topic or its .dlq')
    .option('--yes', 'really delete them')
    .action(async (topic: string, options: { yes?: boolean }) => {
      if (!options.yes) {
        process.stderr.write(`bv dlq purge: this deletes the dead letters of ${dlqTopicOf(topic)}; add --yes\n`);
        process.exitCode = 2;
        return;
      }
      const purged = await withDeadLetters((d) => d.purge(dlqTopicOf(topic)));
      print(`purged ${purged} dead letter(s) from ${dlqTopicOf(topic)}`);
    });

  return dlq;
}
