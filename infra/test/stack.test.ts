import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { loadPlatformConfig, postgresUrl } from '@bitvelocity/core';
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { stackStatus } from '../src/index.js';

const config = loadPlatformConfig();
const exec = promisify(execFile);

describe('the local stack', () => {
  it('reports every component healthy with its version and address (status --json)', async () => {
    const { stdout } = await exec('node', ['cli/bin/bv.js', 'stack', 'status', '--json'], { cwd: process.cwd() });
    const { components } = JSON.parse(stdout) as { components: Awaited<ReturnType<typeof stackStatus>> };
    expect(components.map((c) => c.name)).toEqual([
      'postgres',
      'redis',
      'kafka',
      'minio',
      'connect',
      'mosquitto',
      'duckdb',
      'great-expectations',
    ]);
    for (const component of components) {
      expect(component, component.name).toMatchObject({ installed: true, running: true, healthy: true });
      expect(component.version).not.toBe('');
      expect(component.latencyMs).toBeGreaterThanOrEqual(0);
    }
    expect(components.find((c) => c.name === 'kafka')?.address).toBe(config.kafka.bootstrapServers[0]);
  });

  it('names the known components when asked for the log of an unknown one', async () => {
    const error = await exec('node', ['cli/bin/bv.js', 'stack', 'logs', 'zookeeper']).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 1 });
    expect((error as { stderr: string }).stderr).toMatch(/STACK_COMPONENT_UNKNOWN.*zookeeper.*postgres, redis, kafka/);
  });
});

describe('PostgreSQL', () => {
  const client = new pg.Client(postgresUrl(config.postgres));
  beforeAll(() => client.connect());
  afterAll(() => client.end());

  it('round-trips rows through a table', async () => {
    const table = `roundtrip_${randomUUID().replaceAll('-', '')}`;
    await client.query(`CREATE TABLE ${table} (id int PRIMARY KEY, body jsonb NOT NULL)`);
    try {
      await client.query(`INSERT INTO ${table} VALUES (1, $1), (2, $2)`, [{ a: 1 }, { b: [2] }]);
      const { rows } = await client.query(`SELECT id, body FROM ${table} ORDER BY id`);
      expect(rows).toEqual([
        { id: 1, body: { a: 1 } },
        { id: 2, body: { b: [2] } },
      ]);
    } finally {
      await client.query(`DROP TABLE ${table}`);
    }
  });

  it('is ready for Debezium: logical WAL and room for replication slots', async () => {
    const { rows } = await client.query<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_replication_slots', 'max_wal_senders') ORDER BY name",
    );
    expect(Object.fromEntries(rows.map((r) => [r.name, r.setting]))).toEqual({
      max_replication_slots: '10',
      max_wal_senders: '10',
      wal_level: 'logical',
    });
  });

  it('has the lake catalog database', async () => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      config.lake.catalogDatabase,
    ]);
    expect(rowCount).toBe(1);
  });
});

describe('Kafka', () => {
  it('delivers produced records, keys and headers to a consumer group in order', async () => {
    const topic = `test.roundtrip.${randomUUID()}`;
    const base = { bootstrapBrokers: config.kafka.bootstrapServers, clientId: 'bv-test' };
    const admin = new Admin(base);
    const producer = new Producer({ ...base, serializers: stringSerializers });
    const consumer = new Consumer({ ...base, groupId: `bv-test-${randomUUID()}`, deserializers: stringDeserializers });
    try {
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
      const sent = Array.from({ length: 10 }, (_, i) => ({
        topic,
        key: `order-${i % 3}`,
        value: JSON.stringify({ n: i }),
        headers: { eventType: 'test.roundtrip.v1' },
      }));
      await producer.send({ messages: sent });

      const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 200 });
      const received: { key: string; value: string; offset: bigint; eventType: string | undefined }[] = [];
      for await (const message of stream) {
        received.push({
          key: message.key,
          value: message.value,
          offset: message.offset,
          eventType: message.headers.get('eventType'),
        });
        if (received.length === sent.length) break;
      }
      await stream.close();
      expect(received.map((r) => r.offset)).toEqual(sent.map((_, i) => BigInt(i)));
      expect(received.map(({ key, value, eventType }) => ({ key, value, eventType }))).toEqual(
        sent.map(({ key, value }) => ({ key, value, eventType: 'test.roundtrip.v1' })),
      );
    } finally {
      await consumer.close(true);
      await producer.close();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.close();
    }
  });
});

describe('Kafka Connect', () => {
  it('lists the Debezium PostgresConnector plugin over its REST API', async () => {
    const response = await fetch(`${config.connect.url}/connector-plugins`);
    expect(response.status).toBe(200);
    const plugins = (await response.json()) as { class: string; type: string; version: string }[];
    expect(plugins).toContainEqual({
      class: 'io.debezium.connector.postgresql.PostgresConnector',
      type: 'source',
      version: expect.stringMatching(/^3\.2\./),
    });
  });
});

describe('MinIO', () => {
  it('stores and returns an object byte for byte through the S3 API', async () => {
    const s3 = new S3Client({
      endpoint: config.s3.endpoint,
      region: config.s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey },
    });
    const key = `tests/${randomUUID()}.bin`;
    const body = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256));
    try {
      await s3.send(new PutObjectCommand({ Bucket: config.s3.bucket, Key: key, Body: body }));
      const object = await s3.send(new GetObjectCommand({ Bucket: config.s3.bucket, Key: key }));
      const returned = Buffer.from(await (object.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
      expect(returned.equals(body)).toBe(true);
    } finally {
      s3.destroy();
    }
  });
});
