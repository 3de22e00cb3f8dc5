export { ALL_SERVICES, createServiceDeps, createServicesApp, type ServicesOptions } from './app.js';
export {
  loadServicesAuth,
  newUserProblems,
  PASSWORD_MIN_LENGTH,
  parseRoles,
  type ServicesAuthFile,
  servicesAuthFile,
  writeServicesAuth,
} from './config.js';
export { type MaintenanceOptions, type MaintenanceReport, runMaintenance } from './db/maintenance.js';
export { ensureAppRole, migrate, readMigrations } from './db/migrate.js';
export type { ServiceDeps, ServiceName } from './deps.js';
export { type AuthConfig, hashPassword, type Role, type ServiceUser } from './http/auth.js';
export { BODY_LIMIT_BYTES } from './http/body.js';
export { API_ERRORS, type ApiErrorCode } from './http/errors.js';
export { type StartOptions, startServer } from './server.js';
