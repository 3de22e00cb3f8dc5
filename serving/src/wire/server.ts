import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { BvError, type PlatformConfig } from '@bitvelocity/core';
import { AnalystDatabase, type AnalystDatabaseOptions } from '@bitvelocity/warehouse';
import { WireConnection } from './connection.js';
import { errorResponse } from './protocol.js';
import { type VerifierLookup, verifiersFromFile } from './users.js';

export interface PgServerOptions extends AnalystDatabaseOptions {
  config: PlatformConfig;
  /** 0 picks a free port. Default 15432. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Analyst users; default: the users file under BV_HOME (`bv pg-serve users add`). */
  verifiers?: VerifierLookup;
  /** PEM files; with both, every client must use TLS. */
  tls?: { certFile: string; keyFile: string };
  /** Connections served at once; more are refused with 53300. Default 64. */
  maxConnections?: number;
  /** A reuse of an AnalystDatabase the caller owns (the HTTP API shares one); closed by the caller then. */
  database?: AnalystDatabase;
}

export interface PgServer {
  port: number;
  close(): Promise<void>;
}

export const DEFAULT_PG_PORT = 15432;

/**
 * The Postgres wire-protocol endpoint over the read-only analyst sessions: one shared DuckDB instance, one
 * connection (session) per client.
 */
export async function startPgServer(options: PgServerOptions): Promise<PgServer> {
  const tls = options.tls ? secureContext(options.tls) : undefined;
  const ownDatabase = !options.database;
  const database = options.database ?? (await AnalystDatabase.create(options.config, options));
  const connections = new Map<number, WireConnection>();
  const open = new Set<WireConnection>();
  const maxConnections = options.maxConnections ?? 64;
  const context = {
    database,
    verifiers: options.verifiers ?? verifiersFromFile(),
    tls,
    maxStatementTimeoutMs: Math.max(database.statementTimeoutMs, 1),
    register: (c: WireConnection) => connections.set(c.processId, c),
    unregister: (c: WireConnection) => {
      connections.delete(c.processId);
      open.delete(c);
    },
    cancel: (processId: number, secretKey: number) => {
      const target = connections.get(processId);
      if (target && target.secretKey === secretKey) target.cancel();
    },
  };
  const server: Server = createServer({ noDelay: true }, (socket) => {
    if (open.size >= maxConnections) {
      socket.end(
        errorResponse({
          severity: 'FATAL',
          code: '53300',
          message: `too many connections (at most ${maxConnections})`,
        }),
      );
      return;
    }
    open.add(new WireConnection(socket, context));
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (cause) =>
      reject(
        new BvError(
          'WIRE_BAD_OPTION',
          `cannot listen on ${options.host ?? '127.0.0.1'}:${options.port}: ${cause.message}`,
          { cause },
        ),
      ),
    );
    server.listen(options.port ?? DEFAULT_PG_PORT, options.host ?? '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
  return {
    port,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of [...open]) c.close();
      });
      // Let closing sessions finish before the instance goes.
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (ownDatabase) database.close();
    },
  };
}

function secureContext(tls: { certFile: string; keyFile: string }): SecureContext {
  try {
    return createSecureContext({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) });
  } catch (cause) {
    throw new BvError('WIRE_BAD_OPTION', `cannot load the TLS certificate/key: ${(cause as Error).message}`, { cause });
  }
}
