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

/**
 * Every event type the platform knows, each with its versioned JSON Schema (core/schemas/events/<eventType>.json),
 * and the envelope schema. Compiled once; validation is the gate between a producer and the topic.
 */
export class EventSchemaRegistry {
  private constructor(
    private readonly validateEnvelope: ValidateFunction,
    private readonly payloadValidators: ReadonlyMap<string, ValidateFunction>,
    private readonly schemas: ReadonlyMap<string, JsonSchema>,
  ) {}

  static load(directory = SCHEMAS_DIR): EventSchemaRegistry {
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    addFormats(ajv);
    const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as JsonSchema;
    const validateEnvelope = ajv.compile(read(`${directory}/envelope.v1.json`));
    const validators = new Map<string, ValidateFunction>();
    const schemas = new Map<string, JsonSchema>();
    for (const file of readdirSync(`${directory}/events`)
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      const eventType = file.replace(/\.json$/, '');
      const schema = read(`${directory}/events/${file}`);
      schemas.set(eventType, schema);
      validators.set(eventType, ajv.compile(schema));
    }
    return new EventSchemaRegistry(validateEnvelope, validators, schemas);
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
    if (!this.validateEnvelope(envelope))
      return { valid: false, violations: violationsOf(this.validateEnvelope.errors) };
    const { eventType, payload } = envelope as Envelope;
    const validatePayload = this.payloadValidators.get(eventType);
    if (!validatePayload)
      return { valid: false, violations: [{ path: '/eventType', message: `unknown event type ${eventType}` }] };
    if (!validatePayload(payload))
      return { valid: false, violations: violationsOf(validatePayload.errors, '/payload') };
    return { valid: true };
  }
}
