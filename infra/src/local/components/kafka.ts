import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { versions } from '../../versions.js';
import { type Component, probe } from '../component.js';
import { copyDependencies, ensureJvmTools, isMavenDirComplete } from '../maven.js';
import { livePid, runCommand, startDaemon, stopProcess, waitUntil } from '../process.js';
import type { StackSettings } from '../settings.js';

const { kafka: v } = versions;

/** One Maven-resolved classpath serves both the broker and Kafka Connect (same Kafka version by construction). */
export const kafkaDistDir = (s: StackSettings) => join(s.paths.dist, `kafka-${v.version}`);
export const kafkaClasspath = (s: StackSettings) => `${join(kafkaDistDir(s), 'libs')}/*`;

const configDir = (s: StackSettings) => join(s.paths.config, 'kafka');
const dataDir = (s: StackSettings) => join(s.paths.data, 'kafka');
const pidFile = (s: StackSettings) => join(s.paths.run, 'kafka.pid');

export async function installKafkaDist(s: StackSettings, logFile: string): Promise<void> {
  await ensureJvmTools(logFile);
  const kafkaArtifact = (artifactId: string) => ({ groupId: 'org.apache.kafka', artifactId, version: v.version });
  await copyDependencies(
    s,
    kafkaDistDir(s),
    [
      kafkaArtifact(`kafka_${v.scala}`),
      kafkaArtifact('connect-runtime'),
      kafkaArtifact('connect-json'),
      kafkaArtifact('connect-transforms'),
      { groupId: 'org.slf4j', artifactId: 'slf4j-reload4j', version: v.slf4jReload4j },
      { groupId: 'ch.qos.reload4j', artifactId: 'reload4j', version: v.reload4j },
    ],
    logFile,
  );
}

/** log4j 1.x (reload4j) config: everything to stdout, which the daemon's log file captures. */
export function writeLog4j(dir: string): string {
  const file = join(dir, 'log4j.properties');
  writeFileSync(
    file,
    [
      'log4j.rootLogger=INFO, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.org.apache.kafka.clients=WARN',
      'log4j.logger.kafka.request.logger=WARN',
      'log4j.logger.org.reflections=ERROR',
      '',
    ].join('\n'),
  );
  return file;
}

export function jvmArgs(heap: string, log4jFile: string): string[] {
  return [
    `-Xms${heap}`,
    `-Xmx${heap}`,
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${log4jFile}`,
  ];
}

function writeServerProperties(s: StackSettings): string {
  mkdirSync(configDir(s), { recursive: true });
  const file = join(configDir(s), 'server.properties');
  const { host, ports } = s;
  writeFileSync(
    file,
    [
      '# Single-node KRaft: this node is broker and controller; every replication factor is 1.',
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@${host}:${ports.kafkaController}`,
      `listeners=PLAINTEXT://${host}:${ports.kafka},CONTROLLER://${host}:${ports.kafkaController}`,
      `advertised.listeners=PLAINTEXT://${host}:${ports.kafka}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${dataDir(s)}`,
      'num.partitions=3',
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'default.replication.factor=1',
      'min.insync.replicas=1',
      // Topics are provisioned with declared partitions and retention; a typo must not create one silently.
      'auto.create.topics.enable=false',
      'group.initial.rebalance.delay.ms=0',
      'log.retention.hours=168',
      '',
    ].join('\n'),
  );
  return file;
}

export const kafka: Component = {
  name: 'kafka',
  kind: 'server',
  portKey: 'kafka',
  version: v.version,
  dependsOn: [],
  address: (s) => `${s.host}:${s.ports.kafka}`,
  logFile: (s) => join(s.paths.logs, 'kafka.log'),
  isInstalled: (s) => isMavenDirComplete(kafkaDistDir(s)),

  async install(s) {
    await installKafkaDist(s, this.logFile(s));
  },

  runningPid: (s) => livePid(pidFile(s)),

  async start(s) {
    const properties = writeServerProperties(s);
    const log4j = writeLog4j(configDir(s));
    const classpath = kafkaClasspath(s);
    if (!existsSync(join(dataDir(s), 'meta.properties'))) {
      await runCommand(
        'java',
        [
          '-cp',
          classpath,
          `-Dlog4j.configuration=file:${log4j}`,
          'kafka.tools.StorageTool',
          'format',
          '-t',
          s.secrets.kafkaClusterId,
          '-c',
          properties,
          '--ignore-formatted',
        ],
        { logFile: this.logFile(s), timeoutMs: 120_000 },
      );
    }
    startDaemon('java', [...jvmArgs('1g', log4j), '-cp', classpath, 'kafka.Kafka', properties], {
      logFile: this.logFile(s),
      pidFile: pidFile(s),
    });
    await waitUntil(() => kafkaRoundTrip(s), {
      timeoutMs: 90_000,
      intervalMs: 500,
      stillAlive: () => this.runningPid(s) !== undefined,
    });
  },

  stop: (s) => stopProcess(pidFile(s), 30_000),

  health: (s) => probe(() => kafkaRoundTrip(s)),
};

/** A metadata request answered by the broker: it names the cluster and its brokers. */
async function kafkaRoundTrip(s: StackSettings): Promise<string> {
  const admin = new Admin({
    clientId: 'bv-stack-health',
    bootstrapBrokers: [`${s.host}:${s.ports.kafka}`],
    retries: 0,
    connectTimeout: 2000,
    requestTimeout: 5000,
  });
  try {
    const metadata = await admin.metadata({ topics: [] });
    return `cluster ${metadata.id}, ${metadata.brokers.size} broker(s)`;
  } finally {
    await admin.close();
  }
}
