/**
 * PostgreSQL wire-protocol front end: `startPgWireServer` plus the contract types the SQL layer
 * implements (`PgBackend`, `PgSession`, ...) and `PgError` for raising SQLSTATE errors.
 */
export { PgError, type PgErrorExtra } from './errors.ts';
export { type PgWireServer, startPgWireServer } from './server.ts';
export type * from './types.ts';
