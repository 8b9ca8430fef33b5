import type { Route } from '../http/route.ts';
import type { EventPipeline } from '../events/index.ts';
import { requireRole, send, type Authenticate } from './http.ts';

/** GET /admin/v1/events/health — per-sink backlog, age of the oldest undelivered event, last error (docs/events.md). */
export function eventsRoutes(d: { events: EventPipeline; authenticate: Authenticate }): Route[] {
  return [{
    method: 'GET', path: '/admin/v1/events/health',
    async handler(req, res) {
      await requireRole(d.authenticate, req, ['admin', 'auditor']);
      const h = await d.events.health();
      send(res, h.ok ? 200 : 503, h);
    },
  }];
}
