import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: its default export arrives wrapped under NodeNext.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const SPEC_DIR = fileURLToPath(new URL('../../schemas/openlineage/', import.meta.url));

export interface LineageViolation {
  /** JSON Pointer into the event, e.g. `/run/runId`. */
  path: string;
  message: string;
}

type Where = 'run' | 'job' | 'dataset' | 'input' | 'output';

/**
 * Validates events against the official OpenLineage 2-0-2 schema and, with `facets: true`, each standard facet
 * against its own schema (the core schema leaves facet contents open). Custom facets are checked only for the
 * `_producer`/`_schemaURL` the core schema requires.
 */
export class OpenLineageValidator {
  private constructor(
    private readonly validateEvent: ValidateFunction,
    private readonly validateKind: Record<'run' | 'dataset' | 'job', ValidateFunction>,
    private readonly facetValidators: Map<string, ValidateFunction>,
  ) {}

  static load(directory = SPEC_DIR): OpenLineageValidator {
    // strict off: the official schemas use annotation keywords (`example`) ajv does not know.
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    const core = JSON.parse(readFileSync(`${directory}/OpenLineage.json`, 'utf8'));
    ajv.addSchema(core);
    const facetValidators = new Map<string, ValidateFunction>();
    for (const file of readdirSync(`${directory}/facets`).filter((f) => f.endsWith('.json'))) {
      const schema = JSON.parse(readFileSync(`${directory}/facets/${file}`, 'utf8')) as {
        $id: string;
        properties?: Record<string, unknown>;
      };
      ajv.addSchema(schema);
      const kind = file.replace(/\.json$/, '');
      for (const key of Object.keys(schema.properties ?? {})) {
        const where: Where = kind.endsWith('RunFacet')
          ? 'run'
          : kind.endsWith('JobFacet')
            ? 'job'
            : kind.endsWith('InputDatasetFacet') || kind === 'DataQualityAssertionsDatasetFacet'
              ? 'input'
              : kind.endsWith('OutputDatasetFacet')
                ? 'output'
                : 'dataset';
        facetValidators.set(`${where}:${key}`, ajv.compile({ $ref: schema.$id }));
      }
    }
    const def = (name: string) => ajv.compile({ $ref: `${core.$id}#/$defs/${name}` });
    return new OpenLineageValidator(
      ajv.compile({ $ref: core.$id }),
      { run: def('RunEvent'), dataset: def('DatasetEvent'), job: def('JobEvent') },
      facetValidators,
    );
  }

  /** Every violation, each with the JSON path of the offending value; empty when the event is valid. */
  violations(event: unknown, options: { facets?: boolean } = {}): LineageViolation[] {
    if (!this.validateEvent(event)) {
      // Report against the kind of event it looks like, not all three branches of the spec's oneOf.
      const body = (event ?? {}) as Record<string, unknown>;
      const kind = typeof body !== 'object' ? 'run' : 'run' in body ? 'run' : 'dataset' in body ? 'dataset' : 'job';
      const validate = this.validateKind[kind];
      if (!validate(event)) return pathsOf(validate.errors);
      return pathsOf(this.validateEvent.errors);
    }
    if (!options.facets) return [];
    const out: LineageViolation[] = [];
    const e = event as Record<string, Record<string, unknown> | Record<string, unknown>[] | undefined>;
    const check = (where: Where, facets: unknown, prefix: string) => {
      for (const [key, facet] of Object.entries((facets ?? {}) as Record<string, unknown>)) {
        const validate =
          this.facetValidators.get(`${where}:${key}`) ??
          (where === 'input' || where === 'output' ? this.facetValidators.get(`dataset:${key}`) : undefined);
        if (validate && !validate({ [key]: facet })) out.push(...pathsOf(validate.errors, prefix));
      }
    };
    const run = e.run as { facets?: unknown } | undefined;
    const job = e.job as { facets?: unknown } | undefined;
    check('run', run?.facets, '/run/facets');
    check('job', job?.facets, '/job/facets');
    const dataset = e.dataset as { facets?: unknown } | undefined;
    check('dataset', dataset?.facets, '/dataset/facets');
    for (const [side, where] of [
      ['inputs', 'input'],
      ['outputs', 'output'],
    ] as const) {
      const list = (e[side] ?? []) as { facets?: unknown; inputFacets?: unknown; outputFacets?: unknown }[];
      list.forEach((d, i) => {
        check('dataset', d.facets, `/${side}/${i}/facets`);
        check(where, where === 'input' ? d.inputFacets : d.outputFacets, `/${side}/${i}/${where}Facets`);
      });
    }
    return out;
  }
}

function pathsOf(errors: ErrorObject[] | null | undefined, prefix = ''): LineageViolation[] {
  const seen = new Set<string>();
  const out: LineageViolation[] = [];
  for (const e of errors ?? []) {
    // The top-level oneOf over RunEvent/DatasetEvent/JobEvent adds a summary error; the branches say more.
    if (e.keyword === 'oneOf' || e.keyword === 'allOf' || e.keyword === 'anyOf') continue;
    const missing =
      e.keyword === 'required' ? `/${String((e.params as { missingProperty: string }).missingProperty)}` : '';
    const path = `${prefix}${e.instancePath}${missing}` || '/';
    const message = e.message ?? e.keyword;
    const key = `${path} ${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, message });
  }
  return out;
}
