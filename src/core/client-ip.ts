import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/**
 * Client address: the socket peer, or the first X-Forwarded-For hop when the gateway is told to trust its proxy
 * (`server.trust_proxy`). That hop is header text: only a literal IP address is taken (anything else falls back to
 * the peer), so no client-chosen string reaches the record, the policy input, the events or a rate limiter's key as
 * an address. One function for the data path and the identity endpoints (login, token, SAML).
 */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string | undefined {
  if (trustProxy) {
    const xff = req.headers['x-forwarded-for'];
    const first = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim();
    if (first && isIP(first) !== 0) return first;
  }
  return req.socket.remoteAddress;
}
