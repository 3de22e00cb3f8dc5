import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { versions } from '../versions.js';
import { aptInstall, hasCommand } from './apt.js';
import { runCommand } from './process.js';
import type { StackSettings } from './settings.js';

export interface MavenArtifact {
  groupId: string;
  artifactId: string;
  version: string;
}

const DEPENDENCY_PLUGIN = `org.apache.maven.plugins:maven-dependency-plugin:${versions.maven.dependencyPlugin}`;
const COMPLETE = '.complete';

function mavenArgs(s: StackSettings): string[] {
  return ['-q', '-B', `-Dmaven.repo.local=${s.paths.mavenRepo}`];
}

export function isMavenDirComplete(dir: string): boolean {
  return existsSync(join(dir, COMPLETE));
}

/**
 * Resolves artifacts and their runtime dependencies from Maven Central into `dir/libs` (the JVM only runs Kafka and
 * Connect: no project code is Java). A marker file makes it idempotent; a half-done copy is redone.
 */
export function copyDependencies(
  s: StackSettings,
  dir: string,
  artifacts: MavenArtifact[],
  logFile: string,
): Promise<void> {
  return once(dir, () => resolveInto(s, dir, artifacts, logFile));
}

/** Kafka and Connect share one classpath dir and install concurrently: the second caller joins the first's work. */
const inFlight = new Map<string, Promise<void>>();

function once(dir: string, work: () => Promise<void>): Promise<void> {
  if (isMavenDirComplete(dir)) return Promise.resolve();
  let pending = inFlight.get(dir);
  if (!pending) {
    pending = work().finally(() => inFlight.delete(dir));
    inFlight.set(dir, pending);
  }
  return pending;
}

async function resolveInto(s: StackSettings, dir: string, artifacts: MavenArtifact[], logFile: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dependencies = artifacts
    .map(
      (a) =>
        `    <dependency><groupId>${a.groupId}</groupId><artifactId>${a.artifactId}</artifactId><version>${a.version}</version></dependency>`,
    )
    .join('\n');
  writeFileSync(
    join(dir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.bitvelocity.stack</groupId><artifactId>dist</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
${dependencies}
  </dependencies>
</project>
`,
  );
  await runCommand(
    'mvn',
    [...mavenArgs(s), `${DEPENDENCY_PLUGIN}:copy-dependencies`, '-DoutputDirectory=libs', '-DincludeScope=runtime'],
    { cwd: dir, logFile, timeoutMs: 20 * 60_000 },
  );
  writeFileSync(join(dir, COMPLETE), '');
}

/** Unpacks one archive artifact (e.g. a Debezium connector plugin tar.gz) into `dir/<outputDirectory>`. */
export function unpackArtifact(
  s: StackSettings,
  dir: string,
  coordinates: string,
  outputDirectory: string,
  logFile: string,
): Promise<void> {
  return once(dir, () => unpackInto(s, dir, coordinates, outputDirectory, logFile));
}

async function unpackInto(
  s: StackSettings,
  dir: string,
  coordinates: string,
  outputDirectory: string,
  logFile: string,
): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await runCommand(
    'mvn',
    [
      ...mavenArgs(s),
      `${DEPENDENCY_PLUGIN}:unpack`,
      `-Dartifact=${coordinates}`,
      `-DoutputDirectory=${outputDirectory}`,
    ],
    { cwd: dir, logFile, timeoutMs: 20 * 60_000 },
  );
  writeFileSync(join(dir, COMPLETE), '');
}

/** Java runs Kafka and Connect; Maven fetches them. Installed from Debian when missing. */
export async function ensureJvmTools(logFile: string): Promise<void> {
  if (!(await hasCommand('java', ['-version']))) {
    await aptInstall(['openjdk-17-jre-headless'], logFile, 'install a JDK 17+ (Debian: openjdk-17-jre-headless)');
  }
  if (!(await hasCommand('mvn', ['-v']))) await aptInstall(['maven'], logFile, 'install Maven (Debian: maven)');
}
