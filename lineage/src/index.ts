export { startLineageServer } from './server.js';
