export { createVerifier, parseVerifier, type ScramVerifier } from './scram.js';
export { DEFAULT_PG_PORT, type PgServer, type PgServerOptions, startPgServer } from './server.js';
export { PG_OID, type PgType, pgText, pgTypeOf } from './types.js';
export {
  addAnalystUser,
  analystUsersFile,
  readAnalystUsers,
  removeAnalystUser,
  type VerifierLookup,
  verifiersFromFile,
} from './users.js';
