import type { Route } from '../http/route.ts';
import type { EventPipeline } from '../events/index.ts';
import { requireRole, type Authenticate } from './http.ts';

/** GET /admin/v1/events/health — per-sink backlog, age of the oldest undelivered event, last error (docs/events.md). */
export function eventsRoutes(d: { events: EventPipeline; authenticate: Authenticate }): Route[] {
  return [{
    method: 'GET', path: '/admin/v1/events/health',
    async handler(req, res) {
      await requireRole(d.authenticate, req, ['admin', 'auditor']);
      const h = await d.events.health();
      const body = JSON.stringify(h);
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(body);
    },
  }];
}
