import pg from 'pg';
import { StoreUnavailableError } from '../../core/errors.ts';

/**
 * SQLSTATE classes that mean the database is not serving (not that the statement is wrong): 08 connection
 * exception, 53 insufficient resources, 57 operator intervention (57014 statement_timeout, 57P01 shutdown,
 * 57P03 cannot connect now), 58 system error. PostgreSQL Appendix A.
 */
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57', '58']);

/** Socket errors of a connection that could not be made or was lost. */
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);
/** node-postgres's own messages for connect/acquire/query timeouts and lost or unusable connections. */
const DRIVER_MESSAGES = /timeout exceeded when trying to connect|Query read timeout|Connection terminated|not queryable|Connection ended|connection timeout/i;

/**
 * True when `err` says the database could not be reached or did not answer in time: a socket error, a driver
 * timeout or lost connection, or one of the SQLSTATE classes above. Constraint violations, other statement errors
 * and errors of the caller's own code stay what they are.
 */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  if (err instanceof pg.DatabaseError) return UNAVAILABLE_CLASSES.has((err.code ?? '').slice(0, 2));
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return (typeof code === 'string' && NET_CODES.has(code)) || DRIVER_MESSAGES.test(err.message) || (err instanceof AggregateError && err.errors.some(isUnavailable));
}

/** Rethrows `err`, as StoreUnavailableError when the database was unavailable. */
export function rethrow(err: unknown): never {
  throw isUnavailable(err) && !(err instanceof StoreUnavailableError) ? new StoreUnavailableError(err) : err;
}
