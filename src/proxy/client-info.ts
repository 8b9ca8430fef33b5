import type { IncomingMessage } from 'node:http';

/** Client address: the socket peer, or the first X-Forwarded-For hop when the gateway is told to trust its proxy. */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string | undefined {
  if (trustProxy) {
    const xff = req.headers['x-forwarded-for'];
    const first = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress;
}
