import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../core/errors.ts';
import { parseJsonExact } from '../core/json-exact.ts';
import { utf8Text } from '../core/text.ts';

/**
 * Reads a request body under a byte limit and a deadline (slow-client guard). Chunks are kept as received and
 * concatenated once. A declared Content-Length over the limit is refused before reading a byte.
 */
export async function readBody(req: IncomingMessage, opts: { limit: number; timeoutMs: number }): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > opts.limit) {
    throw new GatewayError('body_too_large', `Request body exceeds the gateway limit of ${opts.limit} bytes.`);
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => fail(new GatewayError('request_timeout', 'The request body was not received in time.')), opts.timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const fail = (err: Error): void => {
      cleanup();
      req.resume();
      reject(err);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > opts.limit) return fail(new GatewayError('body_too_large', `Request body exceeds the gateway limit of ${opts.limit} bytes.`));
      chunks.push(c);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => fail(new GatewayError('invalid_request', 'The request body could not be read.', { cause: err }));
    const onAborted = (): void => fail(new GatewayError('invalid_request', 'The client aborted the request.'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/**
 * Parses a JSON object body; errors say what is wrong without echoing the body. Numbers a double cannot hold stay
 * the client's exact text (src/core/json-exact.ts), so a rewritten body carries them unchanged.
 */
export function parseJsonObject(raw: Buffer, contentType: string | undefined): Record<string, unknown> {
  if (contentType && !/^application\/(.+\+)?json\b/i.test(contentType)) {
    throw new GatewayError('unsupported_media_type', 'Request body must be JSON (Content-Type: application/json).');
  }
  const text = utf8Text(raw);
  let value: unknown;
  try {
    value = parseJsonExact(text);
  } catch {
    // The parser's message quotes the body; the body may hold secrets, so it is never echoed.
    throw new GatewayError('invalid_json', 'Request body is not valid JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GatewayError('invalid_request', 'Request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}
