export {
  type AggregateQuery,
  DEFAULT_SCHEMAS,
  type LakeSchemas,
  NAMED_AGGREGATES,
  resolveRange,
} from './http/aggregates.js';
export { createServingApp, type ServingApp, type ServingOptions } from './http/app.js';
export { SERVING_API_ERRORS, ServingApiError, ServingError } from './http/errors.js';
export type { Freshness, JobFreshness } from './http/freshness.js';
export { LakeReader, openReadOnlyLake } from './http/lake-reader.js';
export { prepareTenantQuery, tenantRelations } from './http/query.js';
export * from './wire/index.js';
