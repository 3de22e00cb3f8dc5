import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { BvError, type LineageEvent, OpenLineageValidator } from '@bitvelocity/core';
import fastifyJwt from '@fastify/jwt';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Direction, LineageStore } from '../store/store.js';
import { registerLineageMetrics } from './metrics.js';

/** The principal of a bearer token signed with the services' JWT secret (`POST /auth/token` of the services). */
export interface LineagePrincipal {
  sub: string;
  tenant: string;
  roles: string[];
}

const principal = (request: FastifyRequest) => request.user as unknown as LineagePrincipal;

export interface LineageAppOptions {
  store: LineageStore;
  jwtSecret: string;
  logger?: boolean;
}

const STATUS: Record<string, number> = {
  LINEAGE_EVENT_INVALID: 400,
  BAD_REQUEST: 400,
  TOKEN_MISSING: 401,
  TOKEN_INVALID: 401,
  FORBIDDEN: 403,
  LINEAGE_NOT_FOUND: 404,
  LINEAGE_UNAVAILABLE: 503,
  ROUTE_NOT_FOUND: 404,
  INTERNAL: 500,
};

class HttpError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const UI_DIR = fileURLToPath(new URL('../ui/', import.meta.url));
const require = createRequire(import.meta.url);

/**
 * The lineage service: OpenLineage in (`POST /api/v1/lineage`), Marquez's read API out, and the reviewers' browser
 * at `/`. Every API route needs a bearer token; a token's tenant sees only what tokens of that tenant posted.
 */
export async function buildLineageApp(options: LineageAppOptions): Promise<FastifyInstance> {
  const { store } = options;
  const validator = OpenLineageValidator.load();
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 16 * 1024 * 1024 });
  await app.register(fastifyJwt, { secret: options.jwtSecret, verify: { algorithms: ['HS256'] } });

  app.setErrorHandler(
    (error: Error & { statusCode?: number; code?: string; validation?: unknown }, _request, reply) => {
      if (error instanceof HttpError) {
        return reply.status(STATUS[error.code] ?? 400).send({
          error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) },
        });
      }
      if (error instanceof BvError) {
        const status = STATUS[error.code] ?? 500;
        return reply.status(status).send({ error: { code: error.code, message: error.message } });
      }
      if (error.statusCode && error.statusCode < 500) {
        return reply.status(error.statusCode).send({ error: { code: 'BAD_REQUEST', message: error.message } });
      }
      app.log.error(error);
      if (process.env.BV_LINEAGE_DEBUG) process.stderr.write(`${error.stack}\n`);
      return reply.status(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
    },
  );
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: { code: 'ROUTE_NOT_FOUND', message: `no route ${request.method} ${request.url}` } }),
  );

  // A producer sends the same token with every event: a verified token is remembered (for a minute at most, never
  // past its expiry), so its signature is checked once a minute, not per event.
  const verified = new Map<string, { user: LineagePrincipal; until: number }>();
  const authenticate = async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    if (!header)
      throw new HttpError(
        'TOKEN_MISSING',
        'send Authorization: Bearer <token> (get one from the services: POST /auth/token)',
      );
    const known = verified.get(header);
    if (known && known.until > Date.now()) {
      (request as { user: unknown }).user = known.user;
      return;
    }
    try {
      await request.jwtVerify();
    } catch {
      throw new HttpError('TOKEN_INVALID', 'the bearer token is not valid or has expired');
    }
    const user = request.user as unknown as LineagePrincipal & { exp?: number };
    if (verified.size >= 1_000) verified.delete(verified.keys().next().value as string);
    verified.set(header, {
      user,
      until: Math.min(Date.now() + 60_000, user.exp ? user.exp * 1000 : Number.POSITIVE_INFINITY),
    });
  };
  const writer = async (request: FastifyRequest) => {
    const roles = principal(request).roles ?? [];
    if (!roles.includes('writer') && !roles.includes('admin'))
      throw new HttpError('FORBIDDEN', 'posting lineage needs the writer role', { held: roles });
  };

  // The browser: static files, no token (the page asks for one and sends it with each API call).
  const ui = (file: string, type: string) => async (_r: FastifyRequest, reply: FastifyReply) =>
    reply
      .type(type)
      .header('cache-control', 'no-cache')
      .send(readFileSync(`${UI_DIR}/${file}`));
  app.get('/', ui('index.html', 'text/html; charset=utf-8'));
  app.get('/ui/app.js', ui('app.js', 'text/javascript; charset=utf-8'));
  app.get('/ui/style.css', ui('style.css', 'text/css; charset=utf-8'));
  const elkBundle = require.resolve('elkjs/lib/elk.bundled.js');
  app.get('/ui/elk.js', async (_r, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=3600').send(readFileSync(elkBundle)),
  );
  app.get('/healthz', async () => ({ status: 'ok' }));
  registerLineageMetrics(app);

  await app.register(async (api) => {
    api.addHook('onRequest', authenticate);
    // Accept, then project: a read first waits until the model holds every event acknowledged before it began, so
    // a client reads its own writes.
    api.addHook('preHandler', async (request) => {
      if (request.method === 'GET') await store.caughtUp();
    });
    const tenant = (request: FastifyRequest) => principal(request).tenant;
    const page = (q: { limit?: string; offset?: string }) => ({
      limit: Math.min(Math.max(Number(q.limit ?? 100) || 100, 1), 1000),
      offset: Math.max(Number(q.offset ?? 0) || 0, 0),
    });

    api.post('/api/v1/lineage', { preHandler: writer }, async (request, reply) => {
      // The event against the spec, and each standard facet present against its own schema (compiled once).
      const violations = validator.violations(request.body, { facets: true });
      if (violations.length)
        throw new HttpError('LINEAGE_EVENT_INVALID', 'the body is not a valid OpenLineage event (spec 2-0-2)', {
          errors: violations,
        });
      const result = await store.ingest(tenant(request), request.body as LineageEvent);
      return reply.status(result.duplicate ? 200 : 201).send({ accepted: true, duplicate: result.duplicate });
    });

    type Ns = { Params: { namespace: string }; Querystring: { limit?: string; offset?: string } };
    api.get('/api/v1/namespaces', async (request) => ({ namespaces: await store.namespaces(tenant(request)) }));
    api.get<Ns>('/api/v1/namespaces/:namespace', async (request) =>
      store.namespace(tenant(request), request.params.namespace),
    );
    api.get<Ns>('/api/v1/namespaces/:namespace/jobs', async (request) => {
      const { limit, offset } = page(request.query);
      return store.jobs(tenant(request), request.params.namespace, limit, offset);
    });
    type Job = { Params: { namespace: string; job: string }; Querystring: { limit?: string; offset?: string } };
    api.get<Job>('/api/v1/namespaces/:namespace/jobs/:job', async (request) =>
      store.job(tenant(request), request.params.namespace, request.params.job),
    );
    api.get<Job>('/api/v1/namespaces/:namespace/jobs/:job/runs', async (request) => {
      const { limit, offset } = page(request.query);
      return store.runsOfJob(tenant(request), request.params.namespace, request.params.job, limit, offset);
    });
    api.get<Ns>('/api/v1/namespaces/:namespace/datasets', async (request) => {
      const { limit, offset } = page(request.query);
      return store.datasets(tenant(request), request.params.namespace, limit, offset);
    });
    type Ds = {
      Params: { namespace: string; dataset: string; version?: string };
      Querystring: { limit?: string; offset?: string };
    };
    api.get<Ds>('/api/v1/namespaces/:namespace/datasets/:dataset', async (request) =>
      store.dataset(tenant(request), request.params.namespace, request.params.dataset),
    );
    api.get<Ds>('/api/v1/namespaces/:namespace/datasets/:dataset/versions', async (request) => {
      const { limit, offset } = page(request.query);
      return store.datasetVersions(tenant(request), request.params.namespace, request.params.dataset, limit, offset);
    });
    api.get<Ds>('/api/v1/namespaces/:namespace/datasets/:dataset/versions/:version', async (request) =>
      store.datasetVersion(
        tenant(request),
        request.params.namespace,
        request.params.dataset,
        request.params.version as string,
      ),
    );
    type RunId = { Params: { id: string }; Querystring: { type?: string } };
    const uuid = (id: string) => {
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
        throw new HttpError('BAD_REQUEST', `run id ${id} is not a UUID`);
      return id;
    };
    api.get<RunId>('/api/v1/jobs/runs/:id', async (request) => {
      const { jobName: _j, namespace: _n, ...run } = await store.run(tenant(request), uuid(request.params.id));
      return run;
    });
    api.get<RunId>('/api/v1/jobs/runs/:id/facets', async (request) =>
      store.runFacets(tenant(request), uuid(request.params.id), request.query.type === 'job' ? 'job' : 'run'),
    );
    type Graph = { Querystring: { nodeId?: string; depth?: string; direction?: string; withDownstream?: string } };
    const depthOf = (q: Graph['Querystring']) => {
      const depth = Number(q.depth ?? 20);
      if (!Number.isInteger(depth) || depth < 0 || depth > 100)
        throw new HttpError('BAD_REQUEST', 'depth must be a whole number from 0 to 100');
      return depth;
    };
    const nodeOf = (q: Graph['Querystring']) => {
      if (!q.nodeId)
        throw new HttpError('BAD_REQUEST', 'nodeId is required (dataset:<namespace>:<name> or job:<namespace>:<name>)');
      return q.nodeId;
    };
    api.get<Graph>('/api/v1/lineage', async (request, reply) => {
      const direction = (request.query.direction ?? 'both') as Direction;
      if (!['both', 'upstream', 'downstream'].includes(direction))
        throw new HttpError('BAD_REQUEST', 'direction must be both, upstream or downstream');
      // The answer is assembled from the nodes' cached JSON (see LineageStore.lineageJson), sent as it is.
      const json = await store.lineageJson(tenant(request), nodeOf(request.query), depthOf(request.query), direction);
      return reply.type('application/json; charset=utf-8').send(json);
    });
    api.get<Graph>('/api/v1/column-lineage', async (request) =>
      store.columnLineage(
        tenant(request),
        nodeOf(request.query),
        depthOf(request.query),
        request.query.withDownstream === 'true',
      ),
    );
    type Search = { Querystring: { q?: string; filter?: string; limit?: string; namespace?: string } };
    api.get<Search>('/api/v1/search', async (request) => {
      const q = request.query.q ?? '';
      if (!q) throw new HttpError('BAD_REQUEST', 'q is required');
      const filter = request.query.filter?.toUpperCase();
      if (filter && filter !== 'DATASET' && filter !== 'JOB')
        throw new HttpError('BAD_REQUEST', 'filter must be DATASET or JOB');
      return store.search(tenant(request), q, {
        ...(filter ? { filter: filter as 'DATASET' | 'JOB' } : {}),
        limit: Math.min(Number(request.query.limit ?? 10) || 10, 100),
        ...(request.query.namespace ? { namespace: request.query.namespace } : {}),
      });
    });
  });
  return app;
}
