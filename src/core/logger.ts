import { pino, type Logger } from 'pino';
import { RepeatLimiter, type RepeatLimiterOptions } from './log-repeats.ts';

/**
 * Operational logs (pino, JSON lines). Only allowlisted fields are ever logged (STYLE.md #9): ids, names,
 * codes, statuses, durations. Never prompts, completions, headers, keys or tokens — the audit trail is its own,
 * encrypted channel. `redact` is a second line of defence for fields that must never appear.
 */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface LogFields {
  event: string;
  exchange_id?: string;
  endpoint?: string;
  provider?: string;
  model?: string;
  subject?: string;
  status?: number;
  code?: string;
  duration_ms?: number;
  listen?: string;
  path?: string;
  count?: number;
  reason?: string;
  error_name?: string;
  /** Authentication source (`oidc:<idp>`, `session`, …) and credential id — identifiers, never secrets. */
  source?: string;
  credential_id?: string;
  /** Policy version id (`pv_…` or `file:…`) and mode. */
  policy_version?: string | null;
  mode?: string;
  /** How many identical lines were held back in the last interval (see log-repeats.ts). */
  repeated?: number;
}

export interface GatewayLogger {
  info(f: LogFields, msg?: string): void;
  warn(f: LogFields, msg?: string): void;
  error(f: LogFields, msg?: string): void;
  debug(f: LogFields, msg?: string): void;
}

export interface LoggerOptions {
  /** Identical lines within this interval are counted, not written (`logging.repeat_interval_ms`; 0 = off). */
  repeatIntervalMs?: number;
  now?: RepeatLimiterOptions['now'];
  schedule?: RepeatLimiterOptions['schedule'];
}

export const DEFAULT_REPEAT_INTERVAL_MS = 10_000;

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream, o: LoggerOptions = {}): GatewayLogger {
  const logger: Logger = pino(
    {
      level,
      base: { service: 'portcullis' },
      redact: { paths: ['authorization', 'api_key', 'apiKey', 'token', 'secret', 'password', '*.authorization', '*.api_key'], censor: '[redacted]' },
    },
    destination as pino.DestinationStream | undefined,
  );
  // Warnings and errors are what a failing dependency repeats; info and debug lines pass as they are.
  const repeats = new RepeatLimiter<LogFields>({ intervalMs: o.repeatIntervalMs ?? DEFAULT_REPEAT_INTERVAL_MS, now: o.now, schedule: o.schedule });
  const warn = (f: LogFields, msg: string | undefined) => logger.warn(f, msg);
  const error = (f: LogFields, msg: string | undefined) => logger.error(f, msg);
  return {
    info: (f, msg) => logger.info(f, msg),
    warn: (f, msg) => {
      if (logger.isLevelEnabled('warn')) repeats.log('warn', warn, f, msg);
    },
    error: (f, msg) => {
      if (logger.isLevelEnabled('error')) repeats.log('error', error, f, msg);
    },
    debug: (f, msg) => logger.debug(f, msg),
  };
}

/** Name of an error for logs — never its message (it may quote content). */
export function errorName(err: unknown): string {
  if (err instanceof Error) return (err as { code?: string }).code ?? err.name;
  return typeof err;
}
