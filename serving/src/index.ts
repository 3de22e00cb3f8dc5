export { NAMED_AGGREGATES } from './http/aggregates.js';
export { createServingApp } from './http/app.js';
export { startPgServer } from './wire/server.js';
export {
  addAnalystUser,
  analystUsersFile,
  readAnalystUsers,
  removeAnalystUser,
  verifiersFromFile,
} from './wire/users.js';
