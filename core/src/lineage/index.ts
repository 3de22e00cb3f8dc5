export * from './client.js';
export * from './emitter.js';
export * from './events.js';
export * from './facets.js';
export * from './naming.js';
export * from './transport.js';
export * from './types.js';
export * from './validate.js';
