/** JSON Schema pieces shared by the routes: they validate input and document the API (OpenAPI). */
export const uuid = { type: 'string', format: 'uuid' } as const;
export const money = {
  type: 'string',
  pattern: '^[0-9]{1,10}(\\.[0-9]{1,2})?$',
  description: 'Decimal amount, e.g. "12.50"',
} as const;
export const currency = { type: 'string', pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' } as const;
export const idParams = (name: string) =>
  ({ type: 'object', required: [name], additionalProperties: false, properties: { [name]: uuid } }) as const;
export const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'string', pattern: '^([1-9][0-9]?|100)$', description: '1-100, default 50' },
    after: { ...uuid, description: 'cursor: the last id of the previous page' },
  },
} as const;
export const writeHeaders = {
  type: 'object',
  properties: {
    'idempotency-key': { type: 'string', description: 'Retries with the same key replay the first response' },
    'if-match': { type: 'string', description: 'ETag of the version being changed (required on updates)' },
    traceparent: { type: 'string', description: 'W3C trace context' },
  },
} as const;
