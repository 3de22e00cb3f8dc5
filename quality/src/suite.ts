import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BvError } from '@bitvelocity/core';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { EXPECTATION_TYPES, SEVERITIES, type Severity } from './catalog.js';

/** The suites kept in the repository, one JSON file per table: quality/suites/<layer>/<table>.json. */
export const SUITES_DIR = fileURLToPath(new URL('../suites/', import.meta.url));

export interface SuiteExpectation {
  type: string;
  kwargs: Record<string, unknown>;
  meta: { severity: Severity; [key: string]: unknown };
}

/** What the platform reads from a suite's `meta` besides GX's own fields. */
export interface SuiteMeta {
  /** The table it checks, `schema.table` (a gate also matches a table of the same name in another schema). */
  table: string;
  /** The table's key columns: the duplicate-key rate metric. */
  keys?: string[];
  /** The event-time column: the freshness-lag metric. */
  time_column?: string;
  /** A boolean column marking late events: the late-event metric. */
  late_column?: string;
  /** false: the suite never gates a transform (it still runs in `bv quality run`); Silver's quarantine is so. */
  gate?: boolean;
  /** Free text, e.g. that a suite waits for its table. */
  notes?: string;
  [key: string]: unknown;
}

/** An expectation suite in the Great Expectations 1.x JSON format, validated. */
export interface QualitySuite {
  name: string;
  expectations: SuiteExpectation[];
  meta: SuiteMeta;
  /** Where it was loaded from, when from a file. */
  source?: string;
}

const SUITE_SCHEMA = {
  type: 'object',
  required: ['name', 'expectations', 'meta'],
  properties: {
    name: { type: 'string', minLength: 1 },
    id: { type: ['string', 'null'] },
    notes: {},
    expectations: { type: 'array' },
    meta: {
      type: 'object',
      required: ['table'],
      properties: {
        table: { type: 'string', pattern: '^[A-Za-z0-9_]+\\.[A-Za-z0-9_]+$' },
        keys: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
        time_column: { type: 'string', minLength: 1 },
        late_column: { type: 'string', minLength: 1 },
        gate: { type: 'boolean' },
      },
    },
  },
};

const EXPECTATION_SCHEMA = {
  type: 'object',
  required: ['type', 'kwargs', 'meta'],
  properties: {
    type: { type: 'string' },
    kwargs: { type: 'object' },
    meta: { type: 'object', required: ['severity'], properties: { severity: { enum: [...SEVERITIES] } } },
    id: { type: ['string', 'null'] },
    rendered_content: {},
    notes: {},
    description: {},
  },
  additionalProperties: false,
};

const ajv = new Ajv2020({ allErrors: true, strict: false });
const validateSuiteShape = ajv.compile(SUITE_SCHEMA);
const validateExpectationShape = ajv.compile(EXPECTATION_SCHEMA);
const kwargsValidators = new Map<string, ValidateFunction>(
  Object.entries(EXPECTATION_TYPES).map(([type, spec]) => [type, ajv.compile(spec.kwargs)]),
);

const describe = (errors: ErrorObject[] | null | undefined): string =>
  (errors ?? [])
    .map((e) => {
      const extra =
        e.keyword === 'additionalProperties'
          ? ` (${String((e.params as { additionalProperty: string }).additionalProperty)})`
          : '';
      return `${e.instancePath || '/'} ${e.message ?? e.keyword}${extra}`;
    })
    .join('; ');

/**
 * Validates a suite: its shape, and every expectation's type (known to the platform) and kwargs (against the type's
 * schema). Great Expectations drops an unknown type silently; this refuses the suite with QUALITY_SUITE_INVALID,
 * naming each bad expectation and the reason.
 */
export function parseSuite(value: unknown, source = 'suite'): QualitySuite {
  const problems: string[] = [];
  if (!validateSuiteShape(value)) {
    throw new BvError('QUALITY_SUITE_INVALID', `${source}: not a suite: ${describe(validateSuiteShape.errors)}`, {
      details: { source, problems: [describe(validateSuiteShape.errors)] },
    });
  }
  const suite = value as { name: string; expectations: unknown[]; meta: SuiteMeta };
  suite.expectations.forEach((entry, index) => {
    const at = `expectations[${index}]`;
    if (!validateExpectationShape(entry)) {
      const type = (entry as { type?: unknown } | null)?.type;
      problems.push(`${at}${typeof type === 'string' ? ` ${type}` : ''}: ${describe(validateExpectationShape.errors)}`);
      return;
    }
    const { type, kwargs } = entry as unknown as SuiteExpectation;
    const validate = kwargsValidators.get(type);
    if (!validate) {
      problems.push(`${at} ${type}: unknown expectation type`);
      return;
    }
    if (!validate(kwargs)) problems.push(`${at} ${type}: bad kwargs: ${describe(validate.errors)}`);
  });
  if (problems.length > 0) {
    throw new BvError('QUALITY_SUITE_INVALID', `${source} (${suite.name}) is refused: ${problems.join(' | ')}`, {
      details: { source, suite: suite.name, problems },
    });
  }
  return {
    name: suite.name,
    expectations: (suite.expectations as SuiteExpectation[]).map((e) => ({
      type: e.type,
      kwargs: e.kwargs,
      meta: e.meta,
    })),
    meta: suite.meta,
    source,
  };
}

export function loadSuiteFile(path: string): QualitySuite {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new BvError('QUALITY_SUITE_INVALID', `${path} is not readable JSON: ${(cause as Error).message}`, { cause });
  }
  return parseSuite(json, path);
}

/** Every suite under a directory (recursively), sorted by path. */
export function loadSuites(directory = SUITES_DIR): QualitySuite[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.json')) files.push(path);
    }
  };
  walk(directory);
  return files.map((file) => {
    const suite = loadSuiteFile(file);
    return { ...suite, source: relative(process.cwd(), file) || file };
  });
}

/** The suite of a table: exact `schema.table` first, else the one whose table has the same name in another schema. */
export function suiteForTable(
  suites: readonly QualitySuite[],
  schema: string,
  table: string,
): QualitySuite | undefined {
  return (
    suites.find((s) => s.meta.table === `${schema}.${table}`) ??
    suites.find((s) => s.meta.table.split('.')[1] === table)
  );
}
