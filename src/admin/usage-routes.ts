import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '../http/route.ts';
import type { BudgetEnforcer, UsageRow } from '../policy/budgets/enforcer.ts';
import { queryOf, requireRole, send, type Authenticate } from './http.ts';

export interface UsageRouteDeps {
  enforcer: BudgetEnforcer;
  authenticate: Authenticate;
}

export function usageView(r: UsageRow): Record<string, unknown> {
  return {
    limit_id: r.limitId, metric: r.metric, scope: r.scope, used: r.used, limit: r.limit,
    remaining: r.limit === null ? null : Math.max(0, r.limit - r.used),
    window_start: new Date(r.windowStart).toISOString(), window_end: new Date(r.windowEnd).toISOString(),
  };
}

/**
 * GET /admin/v1/usage[?scope=group:eng][&limit_id=ID] — current-window usage per limit and scope (docs/budgets.md).
 * Admins and auditors see every scope; any other authenticated caller sees only scopes naming their own subject.
 */
export function usageRoutes(d: UsageRouteDeps): Route[] {
  return [{
    method: 'GET', path: '/admin/v1/usage',
    async handler(req: IncomingMessage, res: ServerResponse) {
      const p = await requireRole(d.authenticate, req, ['admin', 'auditor', 'policy-author', 'approver', 'user']);
      const q = queryOf(req);
      const rows = await d.enforcer.usage({ scope: q.get('scope') ?? undefined, limitId: q.get('limit_id') ?? undefined });
      const all = p.roles.includes('admin') || p.roles.includes('auditor');
      const mine = (r: UsageRow): boolean => r.scope.split('|').includes(p.subject);
      send(res, 200, { data: rows.filter((r) => all || mine(r)).map(usageView) });
    },
  }];
}
