/**
 * One error class for everything the gateway refuses on purpose. `code` is a closed vocabulary so callers,
 * tests and the protocol serializers can rely on it; `expose` says whether `message` may reach the client
 * (only for status < 500: internal errors never leak their message — STYLE.md, "Errors with stable codes").
 */
export type ErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'body_too_large'
  | 'unsupported_media_type'
  | 'not_found'
  | 'method_not_allowed'
  | 'unauthenticated'
  | 'forbidden'
  | 'unknown_model'
  | 'model_not_allowed'
  | 'policy_denied'
  | 'content_blocked'
  | 'approval_required'
  | 'approval_denied'
  | 'identity_suspended'
  | 'rate_limited'
  | 'request_timeout'
  | 'upstream_error'
  | 'upstream_unavailable'
  | 'upstream_timeout'
  | 'upstream_protocol_error'
  | 'recording_failed'
  | 'auth_unavailable'
  | 'upstream_auth_failed'
  | 'store_unavailable'
  | 'evaluation_error'
  | 'overloaded'
  | 'config_invalid'
  | 'conflict'
  | 'internal';

const DEFAULT_STATUS: Record<ErrorCode, number> = {
  invalid_json: 400,
  invalid_request: 400,
  body_too_large: 413,
  unsupported_media_type: 415,
  not_found: 404,
  method_not_allowed: 405,
  unauthenticated: 401,
  forbidden: 403,
  unknown_model: 404,
  model_not_allowed: 403,
  policy_denied: 403,
  content_blocked: 403,
  approval_required: 403,
  approval_denied: 403,
  identity_suspended: 403,
  rate_limited: 429,
  request_timeout: 408,
  upstream_error: 502,
  upstream_unavailable: 502,
  upstream_timeout: 504,
  upstream_protocol_error: 502,
  recording_failed: 503,
  auth_unavailable: 503,
  upstream_auth_failed: 502,
  store_unavailable: 503,
  evaluation_error: 503,
  overloaded: 503,
  config_invalid: 500,
  conflict: 409,
  internal: 500,
};

/**
 * Refusals decided by policy (rules, content controls, approvals): final answers about this request, not faults.
 * Their wire status is chosen per protocol (`Protocol.statusOf`, docs/api.md "Refusals and client retries") so
 * that no common client retries them or shows them as an authentication failure; `status` keeps the neutral 403.
 */
const POLICY_REFUSALS: ReadonlySet<ErrorCode> = new Set(['model_not_allowed', 'policy_denied', 'content_blocked', 'approval_required', 'approval_denied', 'identity_suspended']);

export function isPolicyRefusal(err: GatewayError): boolean {
  return POLICY_REFUSALS.has(err.code);
}

export interface GatewayErrorOptions {
  status?: number;
  cause?: unknown;
  /** Extra response headers, e.g. `retry-after` for 429. */
  headers?: Record<string, string>;
  /** Machine-readable details safe to show the caller (never a secret or a content value). */
  details?: Record<string, unknown>;
}

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly headers: Record<string, string>;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status ?? DEFAULT_STATUS[code];
    this.expose = this.status < 500 || code === 'recording_failed' || code === 'auth_unavailable' || code === 'store_unavailable' || code === 'evaluation_error' || code === 'overloaded' || code.startsWith('upstream');
    this.headers = options.headers ?? {};
    this.details = options.details;
  }

  /** The message a client may see: internal errors get a generic text, never `err.message`. */
  get publicMessage(): string {
    return this.expose ? this.message : 'The gateway hit an internal error; the request was not forwarded.';
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}

/**
 * The store could not be reached in bounded time (refused, silent, failing over, restarting): thrown by a store
 * implementation so every caller fails closed with 503 `store_unavailable` instead of an internal error. Its
 * message is fixed: a driver's message may quote SQL or a host.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(cause: unknown) {
    super('the store is unavailable', { cause });
  }
}

/** Wrap anything thrown into a GatewayError without exposing its message. */
export function toGatewayError(err: unknown): GatewayError {
  if (isGatewayError(err)) return err;
  if (err instanceof StoreUnavailableError) {
    return new GatewayError('store_unavailable', 'The gateway cannot reach its store right now; the request was not forwarded. Retry shortly.', { cause: err, headers: { 'retry-after': '2' } });
  }
  return new GatewayError('internal', 'internal error', { cause: err });
}
