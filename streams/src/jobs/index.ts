/** The platform's stream jobs, as module paths for `bv jobs deploy`, in pipeline order. */
export const PLATFORM_JOBS = [
  'dedupe-envelopes',
  'order-streams',
  'product-metrics',
  'revenue',
  'customer-sessions',
  'device-telemetry',
].map((name) => ({ name, module: new URL(`./${name}.ts`, import.meta.url).pathname }));
