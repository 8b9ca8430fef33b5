import type { IncomingMessage } from 'node:http';
import type { AlertEvaluator } from '../alerts/evaluator.ts';
import type { Suspensions } from '../alerts/suspensions.ts';
import { INVESTIGATION_STATES, type AlertRepo, type Investigation, type InvestigationState } from '../alerts/types.ts';
import { GatewayError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { Route } from '../http/route.ts';
import type { ExchangeRepo } from '../store/ports.ts';
import { queryOf, readJson, requireRole, send, type Authenticate } from './http.ts';

export interface AlertRouteDeps {
  repo: AlertRepo;
  evaluator: AlertEvaluator;
  suspensions: Suspensions;
  exchanges: ExchangeRepo;
  authenticate: Authenticate;
  now(): number;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** The API shape of an investigation (docs/api.md, schemas/admin-api.schema.json `Investigation`). */
export function investigationView(i: Investigation): Record<string, unknown> {
  return {
    id: i.id, rule_id: i.ruleId, kind: i.kind, severity: i.severity, state: i.state, subject: i.subject, identity: i.identity, window: i.windowKey,
    opened_at: iso(i.openedAt), summary: i.summary, response: i.response, assignee: i.assignee, closed_at: iso(i.closedAt), closed_by: i.closedBy,
    resolution: i.resolution, exchange_ids: i.exchangeIds, notes: i.notes.map((n) => ({ id: n.id, at: iso(n.at), author: n.author, text: n.text })),
  };
}

/** A person's free text (a note, a resolution): non-empty, bounded; stored as given and always shown as text. */
function textField(body: Record<string, unknown>, name: string, max: number): string {
  const v = body[name];
  if (typeof v !== 'string' || v.trim().length === 0 || v.length > max) throw new GatewayError('invalid_request', `\`${name}\` must be a non-empty string of at most ${max} characters.`);
  return v;
}

/**
 * Investigations opened by alert rules, and the suspensions their automatic responses set (docs/alerts.md).
 * Reading: admins and auditors; changing (assign, note, close, lift): admins. Every change is chained by the
 * admin activity recorder (admin/activity.ts) like any other admin action.
 */
export function alertRoutes(d: AlertRouteDeps): Route[] {
  const read = (req: IncomingMessage) => requireRole(d.authenticate, req, ['admin', 'auditor']);
  const write = (req: IncomingMessage) => requireRole(d.authenticate, req, ['admin']);
  const found = (i: Investigation | undefined, id: string): Investigation => {
    if (!i) throw new GatewayError('not_found', `No investigation ${id}.`);
    return i;
  };
  const change = async (id: string, done: Investigation | undefined): Promise<Record<string, unknown>> => {
    if (done) return investigationView(done);
    const now = await d.repo.get(id);
    if (!now) throw new GatewayError('not_found', `No investigation ${id}.`);
    throw new GatewayError('conflict', `Investigation ${id} is closed; a closed investigation does not change.`);
  };
  return [
    {
      method: 'GET', path: '/admin/v1/investigations',
      async handler(req, res) {
        await read(req);
        const p = queryOf(req);
        const state = p.get('state') || undefined;
        if (state && !(INVESTIGATION_STATES as readonly string[]).includes(state)) throw new GatewayError('invalid_request', `\`state\` must be one of: ${INVESTIGATION_STATES.join(', ')}.`);
        const limit = p.get('limit') === null ? 100 : Number(p.get('limit'));
        if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new GatewayError('invalid_request', '`limit` must be an integer from 1 to 500.');
        // What has finished before the call has been evaluated when it answers (bounded, like the usage API).
        await d.evaluator.catchUp(10);
        const rows = await d.repo.list({ state: state as InvestigationState | undefined, identity: p.get('identity') || undefined, before: p.get('before') || undefined, limit });
        send(res, 200, { data: rows.map(investigationView), next: rows.length === limit ? rows.at(-1)!.id : null });
      },
    },
    {
      method: 'GET', path: '/admin/v1/investigations/:id',
      async handler(req, res, params) {
        await read(req);
        const i = found(await d.repo.get(params.id!), params.id!);
        // The linked exchanges' metadata (never their content: that is GET /admin/v1/exchanges/<id>, chained as a view).
        const exchanges = await Promise.all(i.exchangeIds.map(async (id) => {
          const x = await d.exchanges.get(id);
          return x ? { id, started_at: iso(x.startedAt), subject: x.subject, model: x.model, status: x.status, error_code: x.errorCode ?? null } : { id, missing: true };
        }));
        // The response still in force, by its mode: `suspended` only when the identity is refused outright.
        const active = d.suspensions.list().find((s) => s.investigationId === i.id);
        send(res, 200, {
          ...investigationView(i), exchanges, suspended: active?.mode === 'suspend',
          active_response: active ? { mode: active.mode, since: iso(active.since), approvers: active.approvers } : null,
        });
      },
    },
    {
      method: 'POST', path: '/admin/v1/investigations/:id/assign',
      async handler(req, res, params) {
        const me = await write(req);
        const body = await readJson(req, 16 * 1024);
        const assignee = body.assignee === undefined ? me.subject : textField(body, 'assignee', 256);
        send(res, 200, await change(params.id!, await d.repo.assign(params.id!, assignee, d.now())));
      },
    },
    {
      method: 'POST', path: '/admin/v1/investigations/:id/notes',
      async handler(req, res, params) {
        const me = await write(req);
        const text = textField(await readJson(req, 64 * 1024), 'text', 10_000);
        send(res, 200, await change(params.id!, await d.repo.note(params.id!, { id: newId('note'), at: d.now(), author: me.subject, text })));
      },
    },
    {
      method: 'POST', path: '/admin/v1/investigations/:id/close',
      async handler(req, res, params) {
        const me = await write(req);
        const resolution = textField(await readJson(req, 16 * 1024), 'resolution', 2_000);
        send(res, 200, await change(params.id!, await d.repo.close(params.id!, me.subject, resolution, d.now())));
      },
    },
    {
      method: 'GET', path: '/admin/v1/suspensions',
      async handler(req, res) {
        await read(req);
        await d.suspensions.refresh();
        send(res, 200, { data: d.suspensions.list().map((s) => ({ identity: s.identity, investigation_id: s.investigationId, since: iso(s.since), mode: s.mode, approvers: s.approvers })) });
      },
    },
    {
      method: 'POST', path: '/admin/v1/suspensions/lift',
      async handler(req, res) {
        const me = await write(req);
        const identity = textField(await readJson(req, 16 * 1024), 'identity', 512);
        if (!(await d.repo.lift(identity, me.subject, d.now()))) throw new GatewayError('not_found', `${identity} is not suspended.`);
        // This replica admits the identity at once; the others within alerts.suspension_refresh_ms.
        await d.suspensions.refresh();
        send(res, 200, { identity, lifted: true });
      },
    },
  ];
}
