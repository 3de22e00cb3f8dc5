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

/** Kafka and Connect share one classpath dir and install concurrently: the second caller joins the first's work. */
const inFlight = new Map<string, Promise<void>>();

/**
 * Runs one dependency-plugin goal in a fresh `dir`, once: a marker file written after success makes it idempotent,
 * and a half-done directory is cleared and redone.
 */
function mavenInto(s: StackSettings, dir: string, goalArgs: string[], logFile: string, pom?: string): Promise<void> {
  if (isMavenDirComplete(dir)) return Promise.resolve();
  let pending = inFlight.get(dir);
  if (!pending) {
    pending = (async () => {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      if (pom) writeFileSync(join(dir, 'pom.xml'), pom);
      await runCommand('mvn', [...mavenArgs(s), ...goalArgs], { cwd: dir, logFile, timeoutMs: 20 * 60_000 });
      writeFileSync(join(dir, COMPLETE), '');
    })().finally(() => inFlight.delete(dir));
    inFlight.set(dir, pending);
  }
  return pending;
}

/**
 * Resolves artifacts and their runtime dependencies from Maven Central into `dir/libs` (the JVM only runs Kafka and
 * Connect: no project code is Java).
 */
export function copyDependencies(
  s: StackSettings,
  dir: string,
  artifacts: MavenArtifact[],
  logFile: string,
): Promise<void> {
  const dependencies = artifacts
    .map(
      (a) =>
        `    <dependency><groupId>${a.groupId}</groupId><artifactId>${a.artifactId}</artifactId><version>${a.version}</version></dependency>`,
    )
    .join('\n');
  const pom = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.bitvelocity.stack</groupId><artifactId>dist</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
${dependencies}
  </dependencies>
</project>
`;
  const goal = [`${DEPENDENCY_PLUGIN}:copy-dependencies`, '-DoutputDirectory=libs', '-DincludeScope=runtime'];
  return mavenInto(s, dir, goal, logFile, pom);
}

/** Unpacks one archive artifact (e.g. a Debezium connector plugin tar.gz) into `dir/<outputDirectory>`. */
export function unpackArtifact(
  s: StackSettings,
  dir: string,
  coordinates: string,
  outputDirectory: string,
  logFile: string,
): Promise<void> {
  const goal = [`${DEPENDENCY_PLUGIN}:unpack`, `-Dartifact=${coordinates}`, `-DoutputDirectory=${outputDirectory}`];
  return mavenInto(s, dir, goal, logFile);
}

/** Java runs Kafka and Connect; Maven fetches them. Installed from Debian when missing. */
export async function ensureJvmTools(logFile: string): Promise<void> {
  if (!(await hasCommand('java', ['-version']))) {
    await aptInstall(['openjdk-17-jre-headless'], logFile, 'install a JDK 17+ (Debian: openjdk-17-jre-headless)');
  }
  if (!(await hasCommand('mvn', ['-v']))) await aptInstall(['maven'], logFile, 'install Maven (Debian: maven)');
}
