import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { versions } from '../../versions.js';
import { type Component, probe } from '../component.js';
import { isMavenDirComplete, unpackArtifact } from '../maven.js';
import { livePid, startDaemon, stopProcess, waitUntil } from '../process.js';
import type { StackSettings } from '../settings.js';
import { installKafkaDist, jvmArgs, kafkaClasspath, kafkaDistDir, writeLog4j } from './kafka.js';

export const POSTGRES_CONNECTOR_CLASS = 'io.debezium.connector.postgresql.PostgresConnector';

const debeziumDir = (s: StackSettings) => join(s.paths.dist, `debezium-postgres-${versions.debezium.version}`);
const pluginPath = (s: StackSettings) => join(debeziumDir(s), 'plugins');
const configDir = (s: StackSettings) => join(s.paths.config, 'connect');
const pidFile = (s: StackSettings) => join(s.paths.run, 'connect.pid');
const restUrl = (s: StackSettings) => `http://${s.host}:${s.ports.connect}`;

function writeWorkerProperties(s: StackSettings): string {
  mkdirSync(configDir(s), { recursive: true });
  const file = join(configDir(s), 'connect-distributed.properties');
  writeFileSync(
    file,
    [
      `bootstrap.servers=${s.host}:${s.ports.kafka}`,
      'group.id=bv-connect',
      // Envelopes are plain JSON on the wire: no Connect schema wrapper around keys or values.
      'key.converter=org.apache.kafka.connect.json.JsonConverter',
      'value.converter=org.apache.kafka.connect.json.JsonConverter',
      'key.converter.schemas.enable=false',
      'value.converter.schemas.enable=false',
      'config.storage.topic=bv-connect-configs',
      'offset.storage.topic=bv-connect-offsets',
      'status.storage.topic=bv-connect-status',
      'config.storage.replication.factor=1',
      'offset.storage.replication.factor=1',
      'status.storage.replication.factor=1',
      'offset.flush.interval.ms=1000',
      'topic.creation.enable=true',
      // Connector configs refer to secrets in files (${file:<path>:<key>}) instead of carrying them.
      'config.providers=file',
      'config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider',
      `plugin.path=${pluginPath(s)}`,
      `listeners=http://${s.host}:${s.ports.connect}`,
      `rest.advertised.host.name=${s.host}`,
      `rest.advertised.port=${s.ports.connect}`,
      '',
    ].join('\n'),
  );
  return file;
}

export const connect: Component = {
  name: 'connect',
  kind: 'server',
  portKey: 'connect',
  version: `${versions.kafka.version} + Debezium ${versions.debezium.version}`,
  dependsOn: ['kafka', 'postgres'],
  address: (s) => restUrl(s),
  logFile: (s) => join(s.paths.logs, 'connect.log'),
  isInstalled: (s) => isMavenDirComplete(kafkaDistDir(s)) && isMavenDirComplete(debeziumDir(s)),

  async install(s) {
    await installKafkaDist(s, this.logFile(s));
    await unpackArtifact(
      s,
      debeziumDir(s),
      `io.debezium:debezium-connector-postgres:${versions.debezium.version}:tar.gz:plugin`,
      'plugins',
      this.logFile(s),
    );
  },

  runningPid: (s) => livePid(pidFile(s)),

  async start(s) {
    const properties = writeWorkerProperties(s);
    const log4j = writeLog4j(configDir(s));
    startDaemon(
      'java',
      [
        ...jvmArgs('768m', log4j),
        '-cp',
        kafkaClasspath(s),
        'org.apache.kafka.connect.cli.ConnectDistributed',
        properties,
      ],
      { logFile: this.logFile(s), pidFile: pidFile(s) },
    );
    // Connect scans plugin.path and joins its group before the REST API answers: allow it time.
    await waitUntil(() => connectRoundTrip(s), {
      timeoutMs: 180_000,
      intervalMs: 1000,
      stillAlive: () => this.runningPid(s) !== undefined,
    });
  },

  stop: (s) => stopProcess(pidFile(s), 30_000),

  health: (s) => probe(() => connectRoundTrip(s)),
};

/** The REST API answers and lists Debezium's PostgresConnector among its plugins. */
async function connectRoundTrip(s: StackSettings): Promise<string> {
  const signal = AbortSignal.timeout(5000);
  const root = await fetch(`${restUrl(s)}/`, { signal });
  if (!root.ok) throw new Error(`GET / answered ${root.status}`);
  const { version } = (await root.json()) as { version: string };
  const response = await fetch(`${restUrl(s)}/connector-plugins`, { signal });
  if (!response.ok) throw new Error(`GET /connector-plugins answered ${response.status}`);
  const plugins = (await response.json()) as { class: string; version: string }[];
  const debezium = plugins.find((p) => p.class === POSTGRES_CONNECTOR_CLASS);
  if (!debezium) throw new Error(`${POSTGRES_CONNECTOR_CLASS} is not among the worker's plugins`);
  return `Connect ${version}, PostgresConnector ${debezium.version}`;
}
