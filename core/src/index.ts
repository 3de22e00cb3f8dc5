export * from './config.js';
export * from './errors.js';
export * from './events/index.js';
export * from './lineage/index.js';
export * from './logger.js';
export * from './topics.js';
