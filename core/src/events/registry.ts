import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Envelope } from './envelope.js';

// ajv-formats is CommonJS: its default export arrives wrapped under NodeNext.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const SCHEMAS_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url));

export interface SchemaViolation {
  /** JSON pointer to the failing value, e.g. `/payload/lines/0/quantity`. */
  path: string;
  message: string;
}

export type ValidationOutcome = { valid: true } | { valid: false; violations: SchemaViolation[] };

export type JsonSchema = Record<string, unknown>;

function violationsOf(errors: ErrorObject[] | null | undefined, prefix = ''): SchemaViolation[] {
  return (errors ?? []).map((e) => {
    const missing =
      e.keyword === 'required' ? `/${String((e.params as { missingProperty: string }).missingProperty)}` : '';
    const extra =
      e.keyword === 'additionalProperties'
        ? `/${String((e.params as { additionalProperty: string }).additionalProperty)}`
        : '';
    return { path: `${prefix}${e.instancePath}${missing}${extra}` || '/', message: e.message ?? e.keyword };
  });
}

/** One schema compiled twice: `fast` stops at the first error (the happy path), `full` collects them all. */
interface SchemaCheck {
  fast: ValidateFunction;
  full: ValidateFunction;
}

function check(checker: SchemaCheck, value: unknown, prefix = ''): ValidationOutcome {
  if (checker.fast(value)) return { valid: true };
  checker.full(value);
  return { valid: false, violations: violationsOf(checker.full.errors, prefix) };
}

/**
 * Every event type the platform knows, each with its versioned JSON Schema (core/schemas/events/<eventType>.json),
 * and the envelope schema. Compiled once; validation is the gate between a producer and the topic. A valid event is
 * checked by a validator that stops at the first error; only an invalid one is checked again for all its violations.
 */
export class EventSchemaRegistry {
  private constructor(
    private readonly envelopeCheck: SchemaCheck,
    private readonly payloadChecks: ReadonlyMap<string, SchemaCheck>,
    private readonly schemas: ReadonlyMap<string, JsonSchema>,
  ) {}

  static load(directory = SCHEMAS_DIR): EventSchemaRegistry {
    const fast = new Ajv2020({ allErrors: false, strict: true });
    const full = new Ajv2020({ allErrors: true, strict: true });
    addFormats(fast);
    addFormats(full);
    const compile = (schema: JsonSchema): SchemaCheck => ({ fast: fast.compile(schema), full: full.compile(schema) });
    const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as JsonSchema;
    const envelopeCheck = compile(read(`${directory}/envelope.v1.json`));
    const checks = new Map<string, SchemaCheck>();
    const schemas = new Map<string, JsonSchema>();
    for (const file of readdirSync(`${directory}/events`)
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      const eventType = file.replace(/\.json$/, '');
      const schema = read(`${directory}/events/${file}`);
      schemas.set(eventType, schema);
      checks.set(eventType, compile(schema));
    }
    return new EventSchemaRegistry(envelopeCheck, checks, schemas);
  }

  eventTypes(): string[] {
    return [...this.schemas.keys()];
  }

  has(eventType: string): boolean {
    return this.schemas.has(eventType);
  }

  schemaOf(eventType: string): JsonSchema | undefined {
    return this.schemas.get(eventType);
  }

  /** Validates the envelope and its payload against the schema of its eventType. */
  validate(envelope: unknown): ValidationOutcome {
    const outcome = check(this.envelopeCheck, envelope);
    if (!outcome.valid) return outcome;
    const { eventType, payload } = envelope as Envelope;
    return this.validatePayload(eventType, payload);
  }

  /**
   * Validates only a payload (paths under `/payload`), for a producer that builds the rest of the envelope itself
   * from values it already checked.
   */
  validatePayload(eventType: string, payload: unknown): ValidationOutcome {
    const checker = this.payloadChecks.get(eventType);
    if (!checker)
      return { valid: false, violations: [{ path: '/eventType', message: `unknown event type ${eventType}` }] };
    return check(checker, payload, '/payload');
  }
}
