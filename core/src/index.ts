export * from './config.js';
export * from './diagnostics.js';
export * from './errors.js';
export * from './events/index.js';
export * from './logger.js';
export * from './process.js';
export * from './retry.js';
export * from './topics.js';
