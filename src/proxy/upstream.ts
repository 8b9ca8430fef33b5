import type { Dispatcher } from 'undici';
import { GatewayError } from '../core/errors.ts';
import type { ProviderRuntime } from './providers.ts';
import type { Endpoint } from './endpoints.ts';

export interface UpstreamCall {
  provider: ProviderRuntime;
  endpoint: Endpoint;
  upstreamModel: string | undefined;
  headers: Record<string, string>;
  body: Buffer | undefined;
  signal: AbortSignal;
}

/**
 * One upstream request through the provider's connection pool (undici). Resolves when response headers
 * arrive; the body is a stream the caller consumes (and which backpressures the upstream socket).
 * Transport failures map to gateway errors that say what failed, never why in internal detail.
 */
export async function callUpstream(c: UpstreamCall): Promise<Dispatcher.ResponseData> {
  const target = c.provider.target(c.endpoint, c.upstreamModel);
  try {
    return await target.pool.request({
      origin: target.origin,
      path: target.path,
      method: c.endpoint.method,
      headers: { ...c.headers, ...target.authHeaders },
      body: c.body,
      signal: c.signal,
      headersTimeout: c.provider.timeouts.firstByteMs,
      bodyTimeout: c.provider.timeouts.idleMs,
    });
  } catch (err) {
    throw mapUpstreamError(err, c.provider.name);
  }
}

export function mapUpstreamError(err: unknown, provider: string): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new GatewayError('upstream_timeout', `Provider "${provider}" did not answer in time.`, { cause: err });
  }
  return new GatewayError('upstream_unavailable', `Provider "${provider}" could not be reached or closed the connection.`, { cause: err });
}
