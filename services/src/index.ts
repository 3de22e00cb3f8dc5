export { createServiceDeps, createServicesApp } from './app.js';
export { loadServicesAuth, newUserProblems, parseRoles, servicesAuthFile, writeServicesAuth } from './config.js';
export { runMaintenance } from './db/maintenance.js';
export { ensureAppRole, migrate, readMigrations } from './db/migrate.js';
export { hashPassword, type Role } from './http/auth.js';
export { startServer } from './server.js';
