import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPlatformConfig, PLATFORM_TOPIC_PARTITIONS } from '@bitvelocity/core';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

// Offline checks of what infra/deploy ships: every Kubernetes object against the API's own schemas (kubernetes-models,
// generated from Kubernetes' OpenAPI), the compose file against the Compose Specification's schema, and the links
// between objects that no schema sees (selectors, Services, config names, job parallelism). cli/test/deploy-commands
// checks that every `bv` command they run exists.
const deploy = fileURLToPath(new URL('../deploy/', import.meta.url));

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown> & {
    selector?: { matchLabels?: Record<string, string> } & Record<string, string | object>;
    template?: { metadata?: { labels?: Record<string, string> }; spec?: PodSpec };
    replicas?: number;
    serviceName?: string;
    scaleTargetRef?: { kind: string; name: string };
  };
  data?: Record<string, string>;
};
type Container = {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: { name: string; valueFrom?: { secretKeyRef?: { name: string } } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
};
type PodSpec = { containers: Container[]; volumes?: { secret?: { secretName: string } }[] };

/** The one Secret the manifests reference but do not ship (docs/deploy.md says how to create it). */
const EXTERNAL_SECRET = 'bitvelocity-secrets';
const PLATFORM_IMAGE = 'bitvelocity/platform:0.1.0';

const files = readdirSync(join(deploy, 'k8s'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const objects: { file: string; object: K8sObject }[] = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(deploy, 'k8s', file), 'utf8')).map((doc) => {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return { file, object: doc.toJS() as K8sObject };
  }),
);
const byKind = (kind: string) => objects.map((o) => o.object).filter((o) => o.kind === kind);
const workloads = () =>
  objects.map((o) => o.object).filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind));

async function modelOf(apiVersion: string, kind: string) {
  const module = (await import(`kubernetes-models/${apiVersion}`)) as Record<
    string,
    new (
      data: unknown,
    ) => { validate(): void }
  >;
  const Model = module[kind];
  if (!Model) throw new Error(`kubernetes-models has no ${kind} in ${apiVersion}`);
  return Model;
}

describe('the Kubernetes manifests (infra/deploy/k8s)', () => {
  it('are valid objects of the Kubernetes API, every one in the bitvelocity namespace', async () => {
    expect(objects.length).toBeGreaterThan(20);
    for (const { file, object } of objects) {
      const Model = await modelOf(object.apiVersion, object.kind);
      expect(() => new Model(object).validate(), `${file}: ${object.kind} ${object.metadata?.name}`).not.toThrow();
      if (object.kind !== 'Namespace')
        expect(object.metadata.namespace, `${file}: ${object.metadata.name}`).toBe('bitvelocity');
    }
  });

  it('link up: selectors match their pods, Services and HPAs find their targets, config names exist', () => {
    const configMaps = new Set(byKind('ConfigMap').map((c) => c.metadata.name));
    const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v);
    for (const w of workloads()) {
      const labels = w.spec?.template?.metadata?.labels;
      if (w.kind !== 'Job') expect(matches(w.spec?.selector?.matchLabels ?? {}, labels), w.metadata.name).toBe(true);
      for (const c of w.spec?.template?.spec?.containers ?? []) {
        for (const from of c.envFrom ?? []) {
          if (from.configMapRef) expect(configMaps.has(from.configMapRef.name), from.configMapRef.name).toBe(true);
          if (from.secretRef) expect(from.secretRef.name).toBe(EXTERNAL_SECRET);
        }
        for (const e of c.env ?? [])
          if (e.valueFrom?.secretKeyRef) expect(e.valueFrom.secretKeyRef.name).toBe(EXTERNAL_SECRET);
      }
      for (const v of w.spec?.template?.spec?.volumes ?? [])
        if (v.secret) expect(v.secret.secretName).toBe(EXTERNAL_SECRET);
    }
    for (const s of byKind('Service')) {
      const selector = s.spec?.selector as Record<string, string>;
      expect(
        workloads().some((w) => matches(selector, w.spec?.template?.metadata?.labels)),
        `Service ${s.metadata.name} selects no pods`,
      ).toBe(true);
    }
    const services = new Set(byKind('Service').map((s) => s.metadata.name));
    for (const set of byKind('StatefulSet'))
      expect(services.has(set.spec?.serviceName ?? ''), set.metadata.name).toBe(true);
    for (const hpa of byKind('HorizontalPodAutoscaler')) {
      const target = hpa.spec?.scaleTargetRef;
      expect(workloads().some((w) => w.kind === target?.kind && w.metadata.name === target?.name)).toBe(true);
    }
  });

  it('run each stream job with at most one worker per partition, as many as the init job registers', () => {
    const partitions = PLATFORM_TOPIC_PARTITIONS;
    const init = byKind('Job')[0]?.spec?.template?.spec?.containers[0]?.args?.join('\n') ?? '';
    const registered = new Map(
      [...init.matchAll(/\/jobs\/([a-z-]+):([0-9]+)/g)].map((m) => [m[1] as string, Number(m[2])] as const),
    );
    const sets = byKind('StatefulSet').filter((s) => s.metadata.name.startsWith('job-'));
    expect(sets.length).toBe(registered.size);
    for (const set of sets) {
      const replicas = set.spec?.replicas ?? 1;
      expect(replicas, set.metadata.name).toBeLessThanOrEqual(partitions);
      const job = set.metadata.name.replace(/^job-(lake-)?/, '');
      expect(registered.get(job), `${set.metadata.name}: parallelism in 30-init.yaml`).toBe(replicas);
    }
  });

  it('give every BitVelocity setting the platform needs: the config loads from the ConfigMap and the Secret alone', () => {
    const data = byKind('ConfigMap').find((c) => c.metadata.name === 'bitvelocity-config')?.data ?? {};
    const secret = {
      BV_PG_PASSWORD: 'x',
      BV_PG_APP_PASSWORD: 'x',
      BV_S3_ACCESS_KEY_ID: 'x',
      BV_S3_SECRET_ACCESS_KEY: 'x',
      BV_MQTT_PASSWORD: 'x',
    };
    const env = {
      ...data,
      ...secret,
      BV_HOME: mkdtempSync(join(tmpdir(), 'bv-k8s-')),
      BV_DUCKDB_EXTENSION_DIR: '/opt',
    };
    const config = loadPlatformConfig(env);
    expect(config.kafka.bootstrapServers).toHaveLength(3);
    expect(config.postgres.host).toBe('postgres');
    expect(config.mqtt?.url).toBe('mqtt://mosquitto:1883');
  });
});

describe('the compose file (infra/deploy/compose.yaml)', () => {
  const compose = parseYaml(readFileSync(join(deploy, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, { environment?: Record<string, string>; command?: string[]; image?: string }>;
  };

  it('is valid by the Compose Specification', () => {
    const schema = JSON.parse(
      readFileSync(fileURLToPath(new URL('fixtures/compose-spec/compose-spec.json', import.meta.url)), 'utf8'),
    );
    // The schema names draft-07 by its https address, which Ajv's bundled meta-schema does not carry: it is not re-checked.
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, validateSchema: false });
    const validate = ajv.compile(schema);
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it('runs the same platform as the Kubernetes manifests, with the same settings', () => {
    const k8sConfig = byKind('ConfigMap').find((c) => c.metadata.name === 'bitvelocity-config')?.data ?? {};
    const platform = Object.entries(compose.services).filter(([, s]) => s.image === PLATFORM_IMAGE);
    for (const [name, service] of platform)
      expect(Object.keys(service.environment ?? {}).sort(), name).toEqual(Object.keys(k8sConfig).sort());
    const composeJobs = Object.keys(compose.services).filter((n) => n.startsWith('job-'));
    const k8sJobs = byKind('StatefulSet')
      .map((s) => s.metadata.name)
      .filter((n) => n.startsWith('job-'));
    expect(composeJobs.sort()).toEqual(k8sJobs.sort());
  });
});
