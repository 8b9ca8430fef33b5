import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../core/errors.ts';
import type { Route } from '../http/route.ts';
import { usageReport } from '../analytics/report.ts';
import { summarizeSeen } from '../analytics/seen.ts';
import type { AnalyticsRoller } from '../analytics/roller.ts';
import { DIMENSIONS, GRANULARITIES, type AnalyticsRepo, type Dimension, type Granularity, type UsageQuery } from '../analytics/types.ts';
import { queryOf, requireRole, send, type Authenticate } from './http.ts';

export interface AnalyticsRouteDeps {
  repo: AnalyticsRepo;
  roller: AnalyticsRoller;
  authenticate: Authenticate;
  now(): number;
}

const DURATION = /^(\d{1,6})(m|h|d)$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `since`/`until`: an ISO 8601 date-time, or a duration back from now (`90m`, `24h`, `30d`). */
function instant(v: string | null, now: number, name: string): number | undefined {
  if (v === null || v === '') return undefined;
  const d = DURATION.exec(v);
  if (d) return now - Number(d[1]) * UNIT_MS[d[2] as keyof typeof UNIT_MS];
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw new GatewayError('invalid_request', `\`${name}\` must be an ISO 8601 date-time or a duration such as 24h.`);
  return t;
}

function oneOf<T extends string>(v: string | null, allowed: readonly T[], name: string, fallback: T): T {
  if (v === null || v === '') return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw new GatewayError('invalid_request', `\`${name}\` must be one of: ${allowed.join(', ')}.`);
  return v as T;
}

/** Parses the query of GET /admin/v1/analytics/usage into a rollup query (docs/analytics.md). */
export function parseUsageQuery(p: URLSearchParams, now: number): { q: UsageQuery; limit: number } {
  const granularity = oneOf<Granularity>(p.get('granularity'), Object.keys(GRANULARITIES) as Granularity[], 'granularity', 'hour');
  const size = GRANULARITIES[granularity];
  const until = instant(p.get('until'), now, 'until') ?? now;
  const since = instant(p.get('since'), now, 'since') ?? until - 24 * 3_600_000;
  if (since >= until) throw new GatewayError('invalid_request', '`since` must be before `until`.');
  if ((until - since) / size > 5_000) throw new GatewayError('invalid_request', `Too many ${granularity} buckets in that range (at most 5000): choose a coarser granularity.`);
  const group = p.get('group');
  const model = p.get('model');
  if (group && model) throw new GatewayError('invalid_request', 'Filter by `group` or by `model`, not both.');
  const limitRaw = p.get('limit');
  const limit = limitRaw === null ? 10 : Number(limitRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new GatewayError('invalid_request', '`limit` must be an integer from 1 to 1000.');
  const value = p.get('value');
  return {
    q: {
      granularity, dim: oneOf<Dimension>(p.get('by'), DIMENSIONS, 'by', 'all'),
      // Buckets that overlap the range: from the start of the bucket holding `since` to the end of the one holding `until`.
      from: since - (since % size), to: until - (until % size) + size,
      filter: group ? `group=${group}` : model ? `model=${model}` : '',
      ...(value ? { values: [value] } : {}),
    },
    limit,
  };
}

/**
 * GET /admin/v1/analytics/usage — requests, tokens, cost, refusals, errors, findings and latency percentiles by time
 * bucket and one dimension, from the rollups (never a scan of the records). Before answering, the roller folds what
 * has finished, so the numbers include every exchange finished before the call. Admins and auditors only.
 */
export function analyticsRoutes(d: AnalyticsRouteDeps): Route[] {
  return [identitiesRoute(d), {
    method: 'GET', path: '/admin/v1/analytics/usage',
    async handler(req: IncomingMessage, res: ServerResponse) {
      await requireRole(d.authenticate, req, ['admin', 'auditor']);
      const { q, limit } = parseUsageQuery(queryOf(req), d.now());
      await d.roller.catchUp(10);
      const totals = await d.repo.totals(q, limit);
      const series = totals.length === 0 ? [] : await d.repo.query({ ...q, values: totals.map((t) => t.value) });
      send(res, 200, usageReport(q, totals, series));
    },
  }];
}

/** Rows (identity × client tool) read for GET /admin/v1/analytics/identities: the most recently seen first. */
const SEEN_ROWS = 10_000;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * GET /admin/v1/analytics/identities — the people and service accounts the gateway has seen (first and last seen,
 * requests, the client tools they used, their groups as of their latest exchange) and the groups they make up
 * (docs/analytics.md#identities-seen). Names and tool families only: never a credential. Admins and auditors.
 */
function identitiesRoute(d: AnalyticsRouteDeps): Route {
  return {
    method: 'GET', path: '/admin/v1/analytics/identities',
    async handler(req: IncomingMessage, res: ServerResponse) {
      await requireRole(d.authenticate, req, ['admin', 'auditor']);
      await d.roller.catchUp(10);
      const rows = await d.repo.seen(SEEN_ROWS);
      const { identities, groups } = summarizeSeen(rows);
      send(res, 200, {
        identities: identities.map((i) => ({
          subject: i.subject, kind: i.kind, name: i.name, groups: i.groups, first_seen: iso(i.firstSeen), last_seen: iso(i.lastSeen), requests: i.requests,
          clients: i.clients.map((c) => ({ client: c.client, last_seen: iso(c.lastSeen), requests: c.requests })),
        })),
        groups: groups.map((g) => ({ group: g.group, members: g.members, last_seen: iso(g.lastSeen), requests: g.requests, clients: g.clients })),
        truncated: rows.length === SEEN_ROWS,
      });
    },
  };
}
