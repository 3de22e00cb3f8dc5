import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { workerIndexOf } from '../src/commands/jobs.js';
import { buildProgram } from '../src/program.js';

// The Kubernetes manifests and the compose file (infra/deploy) start containers of the platform image with `bv <args>`:
// every such command must exist in this build, with the options they pass.
const deploy = fileURLToPath(new URL('../../infra/deploy/', import.meta.url));
const IMAGE = 'bitvelocity/platform:0.1.0';

type Container = { image: string; args?: string[]; command?: string[] };

function k8sInvocations(): string[][] {
  const out: string[][] = [];
  for (const file of readdirSync(join(deploy, 'k8s')).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(deploy, 'k8s', file), 'utf8'))) {
      const object = doc.toJS() as { spec?: { template?: { spec?: { containers?: Container[] } } } };
      for (const c of object.spec?.template?.spec?.containers ?? []) {
        if (c.image !== IMAGE) continue;
        if (c.command?.[0] === 'sh') out.push(...scriptInvocations(c.args?.join('\n') ?? ''));
        else if (c.args) out.push(c.args);
      }
    }
  }
  return out;
}

function composeInvocations(): string[][] {
  const compose = parseYaml(readFileSync(join(deploy, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, { image?: string; entrypoint?: string[]; command?: string[] }>;
  };
  return Object.values(compose.services)
    .filter((s) => s.image === IMAGE && s.command)
    .flatMap((s) => (s.entrypoint?.[0] === 'sh' ? scriptInvocations(s.command?.join('\n') ?? '') : [s.command ?? []]));
}

/** `bv ...` calls of a shell script (the init job's): command words and `--options`; arguments and values dropped. */
function scriptInvocations(script: string): string[][] {
  return [...script.matchAll(/(?:^|[\s;])bv ([^;\n]+)/g)]
    .map((m) => (m[1] as string).trim().split(/\s+/))
    .filter((tokens) => /^[a-z]/.test(tokens[0] ?? ''))
    .map((tokens) => {
      const firstArgument = tokens.findIndex((t) => !/^[a-z-]+$/.test(t));
      const words = tokens
        .slice(0, firstArgument === -1 ? tokens.length : firstArgument)
        .filter((t) => !t.startsWith('-'));
      return [...words, ...tokens.filter((t) => t.startsWith('--'))];
    });
}

/** The command an argv reaches, and the options it passes that the command does not declare. */
function resolve(program: Command, argv: string[]) {
  let command = program;
  const path: string[] = [];
  for (const word of argv) {
    if (word.startsWith('-')) break;
    const sub = command.commands.find((c) => c.name() === word);
    if (!sub) break;
    command = sub;
    path.push(word);
  }
  const known = new Set(command.options.flatMap((o) => [o.long, o.short].filter(Boolean) as string[]));
  const unknown = argv.filter((w) => w.startsWith('--') && !known.has(w));
  return { path, unknown, leaf: command.commands.length === 0 };
}

describe('the deployment manifests', () => {
  const program = buildProgram();
  const invocations = [...k8sInvocations(), ...composeInvocations()];

  it('run only bv commands and options that exist', () => {
    expect(invocations.length).toBeGreaterThan(10);
    expect(invocations).toContainEqual(['jobs', 'deploy', '--external', '--parallelism']);
    for (const argv of invocations) {
      const { path, unknown, leaf } = resolve(program, argv);
      expect(leaf, `bv ${argv.join(' ')} names no command (reached: bv ${path.join(' ')})`).toBe(true);
      expect(unknown, `bv ${argv.join(' ')}`).toEqual([]);
    }
    const init = scriptInvocations(readFileSync(join(deploy, 'k8s', '30-init.yaml'), 'utf8'));
    expect(init.map((w) => w.slice(0, 2).join(' '))).toEqual(
      expect.arrayContaining(['services migrate', 'connectors apply', 'jobs deploy']),
    );
  });
});

describe('a worker index from the orchestrator', () => {
  it('is a number or the ordinal of a StatefulSet pod name, and refuses anything else', () => {
    expect(workerIndexOf(undefined)).toBe(0);
    expect(workerIndexOf('4')).toBe(4);
    expect(workerIndexOf('job-order-streams-2')).toBe(2);
    expect(() => workerIndexOf('order-streams')).toThrow(/neither a number nor a name ending in -<n>/);
  });
});
