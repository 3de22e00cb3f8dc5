import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { PlatformConfig } from '@bitvelocity/core';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  type AggregateQuery,
  DEFAULT_SCHEMAS,
  type LakeSchemas,
  mirrorDatasets,
  NAMED_AGGREGATES,
} from './aggregates.js';
import { authenticate, registerTokenVerification, requireRole, tenantOf } from './auth.js';
import { errorResponses, registerErrorHandling, ServingApiError } from './errors.js';
import { FreshnessProbe } from './freshness.js';
import { GoldMirror } from './gold-mirror.js';
import { LakeReader, type ReadResult } from './lake-reader.js';
import { registerServingMetrics } from './metrics.js';
import type { MirrorIndexes } from './mirror-indexes.js';
import { prepareTenantQuery } from './query.js';
import { SnapshotCache } from './snapshot-cache.js';
import { SnapshotWatcher } from './snapshot-watcher.js';

export interface ServingOptions {
  config: PlatformConfig;
  /** The services' JWT secret: serving verifies the tokens the services issue. */
  jwtSecret: string;
  schemas?: Partial<LakeSchemas>;
  /** Read-only lake connections for queries (each its own DuckDB, one thread); default: one per core, at least 2. */
  connections?: number;
  /** How often the catalog is polled for new commits (versions, live updates). */
  pollIntervalMs?: number;
  query?: { maxRows?: number; timeoutMs?: number };
  /** The stream jobs the freshness panel reports (default: every registered job). */
  jobs?: readonly string[];
  logger?: boolean;
}

export interface ServingApp {
  app: FastifyInstance;
  reader: LakeReader;
  mirror: GoldMirror<MirrorIndexes>;
  watcher: SnapshotWatcher;
  close(): Promise<void>;
}

const ANSWER_HEADERS = { 'cache-control': 'private, no-cache', vary: 'Authorization' };
const etagOf = (snapshotId: number) => `"${snapshotId}"`;

interface CachedAnswer {
  snapshotId: number;
  body: string;
}

/** Reads an answer's body (JSON) at a version. */
type ReadBody = (version: number, signal?: AbortSignal) => Promise<string>;

interface HotAnswer {
  relations: string[];
  read: ReadBody;
  askedAt: number;
}

/** Answers asked for within this long are refreshed on each commit to what they read. */
const HOT_FOR_MS = 10 * 60_000;
const MAX_HOT = 200;

const require = createRequire(import.meta.url);
const DASHBOARD_FILES: Record<string, { path: string; type: string }> = {
  '/': { path: new URL('../dashboard/index.html', import.meta.url).pathname, type: 'text/html; charset=utf-8' },
  '/dashboard/dashboard.js': {
    path: new URL('../dashboard/dashboard.js', import.meta.url).pathname,
    type: 'text/javascript; charset=utf-8',
  },
  '/dashboard/dashboard.css': {
    path: new URL('../dashboard/dashboard.css', import.meta.url).pathname,
    type: 'text/css; charset=utf-8',
  },
  '/dashboard/uPlot.iife.min.js': {
    path: require.resolve('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/dashboard/uPlot.min.css': { path: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/** DuckDB's answer to a statement it could not run, as the API's error. */
function queryError(error: unknown, analyst: boolean): ServingApiError | unknown {
  if (error instanceof ServingApiError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/^(Binder|Parser|Conversion|Invalid Input|Catalog|Out of Range) Error/.test(message)) {
    if (analyst) return new ServingApiError('QUERY_FAILED', message, 'body/sql');
    return new ServingApiError('UNAVAILABLE', `the lake cannot answer yet: ${message}`);
  }
  return error;
}

/**
 * The read-only query API and the dashboard in one fastify instance: named aggregates and analyst SQL over the lake,
 * each answer cached per lake snapshot with the snapshot id as its ETag, and a server-sent event per new snapshot.
 */
export async function createServingApp(options: ServingOptions): Promise<ServingApp> {
  const schemas = { ...DEFAULT_SCHEMAS, ...options.schemas };
  for (const name of Object.values(schemas))
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new TypeError(`lake schema ${name} is not a plain identifier`);
  const maxRows = options.query?.maxRows ?? 10_000;
  const maxTimeoutMs = options.query?.timeoutMs ?? 30_000;
  const reader = await LakeReader.create(options.config, {
    connections: options.connections ?? Math.max(2, availableParallelism()),
  });
  let mirror: GoldMirror<MirrorIndexes>;
  try {
    mirror = await GoldMirror.create(options.config, mirrorDatasets(schemas));
  } catch (error) {
    reader.close();
    throw error;
  }
  const watcher = await SnapshotWatcher.start(reader, options.pollIntervalMs ?? 1000);
  mirror.warm((relations) => watcher.versionOf(relations));
  const cache = new SnapshotCache<CachedAnswer>();
  const reading = new Map<string, { promise: Promise<CachedAnswer>; waiters: number; abort: AbortController }>();
  const freshness = new FreshnessProbe(options.config, reader, schemas, options.jobs ? { jobs: options.jobs } : {});

  const app = Fastify({
    logger: options.logger ?? false,
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false } },
  });
  registerErrorHandling(app);
  registerServingMetrics(app, freshness);
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'BitVelocity query API', version: '1.0.0', description: 'Read-only aggregates and SQL over Gold' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });
  await registerTokenVerification(app, options.jwtSecret);

  /**
   * One read per version and key at a time: identical requests (and the refresh below) share it. A read still queued
   * for a connection when every request waiting for it has disconnected is dropped (an overloaded server does not
   * work off a backlog nobody reads); a refresh-ahead read has no requester and always runs.
   */
  const load = (key: string, version: number, read: ReadBody, waiter?: FastifyReply) => {
    const pendingKey = `${version}|${key}`;
    let pending = reading.get(pendingKey);
    if (!pending) {
      const abort = new AbortController();
      const fresh = read(version, waiter ? abort.signal : undefined)
        .then((body) => {
          const answer = { snapshotId: version, body: `{"snapshotId":${version},${body.slice(1)}` };
          cache.set(key, version, answer);
          return answer;
        })
        .finally(() => reading.delete(pendingKey));
      pending = { promise: fresh, waiters: 0, abort };
      if (!waiter) pending.waiters = Number.POSITIVE_INFINITY;
      reading.set(pendingKey, pending);
    }
    if (waiter) {
      const flight = pending;
      flight.waiters++;
      const gone = () => {
        if (--flight.waiters === 0) flight.abort.abort(new Error('client gone'));
      };
      // The response closes before it was written only when the client has gone.
      waiter.raw.once('close', gone);
      flight.promise.finally(() => waiter.raw.off('close', gone)).catch(() => {});
    }
    return pending.promise;
  };

  /**
   * Answers from the cache at `version` (the latest snapshot that changed what the answer reads; kept in memory by
   * the watcher, so a hit touches neither DuckDB nor the catalog), or reads and caches; 304 when the client holds it.
   */
  const answer = async (request: FastifyRequest, reply: FastifyReply, key: string, version: number, read: ReadBody) => {
    const send = (cached: CachedAnswer, hit: boolean) => {
      reply.headers({ ...ANSWER_HEADERS, etag: etagOf(cached.snapshotId), 'x-cache': hit ? 'hit' : 'miss' });
      if (request.headers['if-none-match'] === etagOf(cached.snapshotId)) return reply.code(304).send();
      return reply.type('application/json; charset=utf-8').send(cached.body);
    };
    const cached = cache.get(key, version);
    if (cached) return send(cached, true);
    return send(await load(key, version, read, reply), false);
  };

  /*
   * Refresh ahead: the named-aggregate answers asked for lately (the dashboards' default ranges among them) are read
   * again as soon as a commit changes a table they read, so the dashboards' next requests are hits.
   */
  const hot = new Map<string, HotAnswer>();
  watcher.on('change', () => {
    mirror.refresh((relations) => watcher.versionOf(relations));
    const now = Date.now();
    for (const [key, entry] of hot) {
      if (now - entry.askedAt > HOT_FOR_MS) {
        hot.delete(key);
        continue;
      }
      const version = watcher.versionOf(entry.relations);
      if (!cache.get(key, version)) load(key, version, entry.read).catch(() => {});
    }
  });
  const remember = (key: string, entry: Omit<HotAnswer, 'askedAt'>) => {
    hot.delete(key);
    hot.set(key, { ...entry, askedAt: Date.now() });
    if (hot.size > MAX_HOT) hot.delete(hot.keys().next().value as string);
  };

  const guard = { onRequest: authenticate };

  for (const aggregate of NAMED_AGGREGATES) {
    app.get<{ Querystring: AggregateQuery }>(
      `/v1/metrics/${aggregate.name}`,
      {
        ...guard,
        preHandler: requireRole('dashboard', 'analyst'),
        schema: {
          tags: ['metrics'],
          summary: aggregate.summary,
          querystring: { type: 'object', additionalProperties: false, properties: aggregate.querystring },
          response: errorResponses(400, 401, 403, 503),
        },
      },
      async (request, reply) => {
        const tenant = tenantOf(request);
        const answerRead = aggregate.answer(request.query, tenant, maxRows);
        const key = `${aggregate.name}|${tenant}|${JSON.stringify(request.query)}`;
        const relations = aggregate.reads(schemas);
        const prefix = `{"name":${JSON.stringify(aggregate.name)},"rows":`;
        const read: ReadBody = (version) =>
          answerRead(mirror, version).then(
            (rows) => `${prefix}${rows}}`,
            (error) => {
              throw queryError(error, false);
            },
          );
        remember(key, { relations, read });
        return answer(request, reply, key, watcher.versionOf(relations), read);
      },
    );
  }

  app.get(
    '/v1/metrics/freshness',
    {
      ...guard,
      preHandler: requireRole('dashboard', 'analyst'),
      schema: {
        tags: ['metrics'],
        summary: "The pipeline's freshness: Silver and Gold lag, each stream job's consumer lag and watermark",
        querystring: { type: 'object', additionalProperties: false, properties: {} },
        response: errorResponses(401, 403),
      },
    },
    async (_request, reply) => {
      reply.headers({ 'cache-control': 'no-store' });
      return freshness.read();
    },
  );

  app.post<{
    Body: {
      sql: string;
      params?: Record<string, string | number | boolean | null>;
      maxRows?: number;
      timeoutMs?: number;
    };
  }>(
    '/v1/query',
    {
      ...guard,
      preHandler: requireRole('analyst'),
      schema: {
        tags: ['query'],
        summary:
          'One parameterised SELECT over the tenant-scoped relations (orders, order_lines, products, customers, orders_per_product_1m, customer_sessions, anomalies)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['sql'],
          properties: {
            sql: { type: 'string', minLength: 1, maxLength: 20_000 },
            params: {
              type: 'object',
              propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
              additionalProperties: {
                anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }, { type: 'null' }],
              },
            },
            maxRows: { type: 'integer', minimum: 1, maximum: maxRows, default: Math.min(1000, maxRows) },
            timeoutMs: { type: 'integer', minimum: 100, maximum: maxTimeoutMs, default: Math.min(5000, maxTimeoutMs) },
          },
        },
        response: errorResponses(400, 401, 403, 408),
      },
    },
    async (request, reply) => {
      const tenant = tenantOf(request);
      const { sql, params = {}, maxRows: rows = 1000, timeoutMs = 5000 } = request.body;
      const prepared = await prepareTenantQuery((s) => reader.serialize(s), schemas, sql, params, tenant);
      const key = `query|${tenant}|${rows}|${JSON.stringify([sql, params])}`;
      // Which relations an analyst's statement reads is not tracked: its answer is valid for one lake snapshot.
      return answer(request, reply, key, watcher.snapshotId, (latest, signal) =>
        reader.read(prepared.sql, prepared.params, { timeoutMs, maxRows: rows, atLeast: latest, signal }).then(
          (result: ReadResult) =>
            JSON.stringify({ columns: result.columns, rows: result.rows, truncated: result.truncated }),
          (error) => {
            throw queryError(error, true);
          },
        ),
      );
    },
  );

  app.get(
    '/v1/live',
    {
      ...guard,
      preHandler: requireRole('dashboard', 'analyst'),
      schema: {
        tags: ['live'],
        summary: 'Server-sent events: `snapshot` with the lake snapshot id, at connect and on every new snapshot',
        response: errorResponses(401, 403),
      },
    },
    async (request, reply) => {
      reply.hijack();
      const out = reply.raw;
      out.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const push = (snapshotId: number) => out.write(`event: snapshot\ndata: ${JSON.stringify({ snapshotId })}\n\n`);
      push(watcher.snapshotId);
      const onChange = ({ snapshotId }: { snapshotId: number }) => push(snapshotId);
      watcher.on('change', onChange);
      const heartbeat = setInterval(() => out.write(': keep-alive\n\n'), 15_000);
      request.raw.on('close', () => {
        clearInterval(heartbeat);
        watcher.off('change', onChange);
      });
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  for (const [url, file] of Object.entries(DASHBOARD_FILES)) {
    app.get(url, { schema: { hide: true } }, async (_request, reply) =>
      reply.type(file.type).header('cache-control', 'no-cache').send(readFileSync(file.path)),
    );
  }

  await app.ready();
  return {
    app,
    reader,
    mirror,
    watcher,
    close: async () => {
      watcher.stop();
      await app.close();
      await mirror.close();
      reader.close();
    },
  };
}
