import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

export interface LingerLimits {
  /** Most bytes of the unread body read and discarded after the answer. */
  maxBytes: number;
  /** Longest time spent doing so. */
  maxMs: number;
}

/**
 * Lingering close (RFC 9112 §9.6): when the gateway answers before it has read the request body (413, 401, 404,
 * 405, 431, any refusal before the body), closing the connection while the client is still writing makes the
 * kernel reset it, and a client that writes its whole body before reading (most SDKs' HTTP stacks) gets EPIPE or
 * ECONNRESET instead of the answer. So the rest of the body is read and discarded — bounded in bytes and time, so
 * a client cannot make the gateway read forever — and only a client that exceeds the bound is cut off. A body
 * drained within the bound leaves the connection usable (keep-alive), as Node would have left it; unlike Node's own
 * drain, this one is bounded.
 */
export function drainUnreadBody(req: IncomingMessage, limits: LingerLimits): void {
  if (req.complete || req.destroyed) return;
  let seen = 0;
  const stop = (): void => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', stop);
    req.off('close', stop);
  };
  const cutOff = (): void => {
    stop();
    req.socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    seen += chunk.length;
    if (seen > limits.maxBytes) cutOff();
  };
  const timer = setTimeout(cutOff, limits.maxMs);
  timer.unref();
  req.on('data', onData);
  req.on('end', stop);
  req.on('close', stop);
  req.resume();
}

/**
 * The same for a connection the HTTP parser gave up on (header block too large, malformed request): the answer is
 * written and the write side closed (FIN), then what the client still sends is read and discarded, bounded, before
 * the socket is destroyed — the classic half-close of RFC 9112 §9.6.
 */
export function answerThenLinger(socket: Socket, answer: string, limits: LingerLimits): void {
  // Node's failed parser is still fed from 'data' (and would raise clientError again for every chunk): detach it.
  socket.removeAllListeners('data');
  let seen = 0;
  const timer = setTimeout(() => socket.destroy(), limits.maxMs);
  timer.unref();
  socket.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limits.maxBytes) socket.destroy();
  });
  socket.once('end', () => socket.destroy());
  socket.once('close', () => clearTimeout(timer));
  socket.end(answer);
  socket.resume();
}
