export { buildLineageApp, type LineageAppOptions, type LineagePrincipal } from './http/app.js';
export { type LineageServer, type LineageServerOptions, startLineageServer } from './server.js';
export { migrateLineageStore } from './store/migrate.js';
export * from './store/shapes.js';
export { type Direction, LineageStore } from './store/store.js';
