import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../core/errors.ts';

/**
 * Reads a request body under a byte limit and a deadline (slow-client guard). Chunks are kept as received and
 * concatenated once. A declared Content-Length over the limit is refused before reading a byte. Every HTTP surface
 * (data plane, admin API, auth endpoints) reads bodies through here: a refusal leaves the request readable (not
 * destroyed, as leaving a `for await` loop would), so the answer can be written and the rest drained
 * (src/proxy/linger.ts).
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
