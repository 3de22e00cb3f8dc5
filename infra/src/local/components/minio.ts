import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, HeadBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { versions } from '../../versions.js';
import { hasCommand } from '../apt.js';
import { type Component, probe } from '../component.js';
import { livePid, runCommand, startDaemon, stopProcess, waitUntil } from '../process.js';
import type { StackSettings } from '../settings.js';

const { minio: v } = versions;

const binDir = (s: StackSettings) => join(s.paths.dist, `minio-${v.version}`);
const binary = (s: StackSettings) => join(binDir(s), 'minio');
const dataDir = (s: StackSettings) => join(s.paths.data, 'minio');
const pidFile = (s: StackSettings) => join(s.paths.run, 'minio.pid');

export function s3ClientFor(s: StackSettings): S3Client {
  return new S3Client({
    endpoint: `http://${s.host}:${s.ports.minio}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s.secrets.minioAccessKey, secretAccessKey: s.secrets.minioSecretKey },
    maxAttempts: 1,
  });
}

export const minio: Component = {
  name: 'minio',
  kind: 'server',
  portKey: 'minio',
  version: v.version,
  dependsOn: [],
  address: (s) => `http://${s.host}:${s.ports.minio}`,
  logFile: (s) => join(s.paths.logs, 'minio.log'),
  isInstalled: (s) => existsSync(binary(s)),

  async install(s) {
    if (existsSync(binary(s))) return;
    if (!(await hasCommand('go', ['version']))) {
      throw new Error(`Go ${v.minGo}+ is needed to build MinIO from the Go module proxy; install Go and retry`);
    }
    // MinIO ships no binary through a package registry here: build the pinned module once (a few minutes),
    // cached in BV_HOME so later runs reuse it.
    await runCommand('go', ['install', `${v.module}@${v.version}`], {
      env: {
        ...process.env,
        GOPATH: s.paths.goPath,
        GOBIN: binDir(s),
        GOMODCACHE: join(s.paths.goPath, 'pkg', 'mod'),
        GOCACHE: join(s.paths.goPath, 'build-cache'),
        CGO_ENABLED: '0',
        GOFLAGS: '-mod=mod',
      },
      logFile: this.logFile(s),
      timeoutMs: 40 * 60_000,
    });
  },

  runningPid: (s) => livePid(pidFile(s)),

  async start(s) {
    mkdirSync(dataDir(s), { recursive: true });
    startDaemon(
      binary(s),
      [
        'server',
        '--quiet',
        '--address',
        `${s.host}:${s.ports.minio}`,
        '--console-address',
        `${s.host}:${s.ports.minioConsole}`,
        dataDir(s),
      ],
      {
        env: {
          ...process.env,
          MINIO_ROOT_USER: s.secrets.minioAccessKey,
          MINIO_ROOT_PASSWORD: s.secrets.minioSecretKey,
          MINIO_UPDATE: 'off',
        },
        logFile: this.logFile(s),
        pidFile: pidFile(s),
      },
    );
    await waitUntil(() => s3RoundTrip(s), {
      timeoutMs: 60_000,
      intervalMs: 300,
      stillAlive: () => this.runningPid(s) !== undefined,
    });
    await ensureBucket(s);
  },

  stop: (s) => stopProcess(pidFile(s)),

  health: (s) => probe(() => s3RoundTrip(s)),
};

/** A signed S3 request: credentials, endpoint and the server all work. */
async function s3RoundTrip(s: StackSettings): Promise<string> {
  const client = s3ClientFor(s);
  try {
    const { Buckets = [] } = await client.send(new ListBucketsCommand({}));
    const lake = Buckets.some((b) => b.Name === s.lakeBucket) ? `, bucket ${s.lakeBucket}` : '';
    return `S3 API answered: ${Buckets.length} bucket(s)${lake}`;
  } finally {
    client.destroy();
  }
}

async function ensureBucket(s: StackSettings): Promise<void> {
  const client = s3ClientFor(s);
  try {
    await client.send(new HeadBucketCommand({ Bucket: s.lakeBucket }));
  } catch {
    await client.send(new CreateBucketCommand({ Bucket: s.lakeBucket }));
  } finally {
    client.destroy();
  }
}
