import pg from 'pg';
import { StoreUnavailableError } from '../../core/errors.ts';

/**
 * SQLSTATE classes that mean the database is not serving (not that the statement is wrong): 08 connection
 * exception, 53 insufficient resources, 57 operator intervention (57014 statement_timeout, 57P01 shutdown,
 * 57P03 cannot connect now), 58 system error. PostgreSQL Appendix A.
 */
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57', '58']);

/**
 * True when `err` says the database could not be reached or did not answer in time: a driver error without a
 * SQLSTATE (refused, reset, connect or query timeout, connection ended) or one of the classes above. Constraint
 * violations and other statement errors stay what they are.
 */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  if (err instanceof pg.DatabaseError) return UNAVAILABLE_CLASSES.has((err.code ?? '').slice(0, 2));
  return err instanceof Error;
}

/** Rethrows `err`, as StoreUnavailableError when the database was unavailable. */
export function rethrow(err: unknown): never {
  throw isUnavailable(err) && !(err instanceof StoreUnavailableError) ? new StoreUnavailableError(err) : err;
}
