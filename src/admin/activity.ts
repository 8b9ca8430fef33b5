import { AsyncLocalStorage } from 'node:async_hooks';
import type { ServerResponse } from 'node:http';
import { GatewayError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { Principal } from '../core/principal.ts';
import type { Route } from '../http/route.ts';
import type { Authenticate } from './http.ts';

/** One admin action as the audit trail and the events pipeline receive it. No secrets, no content. */
export interface AdminActivity {
  actor: Principal;
  /** Stable verb from ACTIONS, e.g. `keys.create`. */
  action: string;
  /** What it acted on: an id or a name. */
  target: string | null;
  /** Safe facts picked from the answer (ids, numbers): never the answer itself (a new key's secret is in it). */
  facts: Record<string, string | number | boolean | null>;
  sourceIp: string | undefined;
  /** A change (not a view): the id its intent was chained under, and whether it was made (`failure`: status ≥ 400). */
  change?: { requestId: string; outcome: 'success' | 'failure'; status: number };
  /** The module behind the route emits its own SIEM events for it (approval votes): chain only. */
  ownEvents?: true;
}

/** The intent of a change, chained after authentication and before the handler may change anything. */
export interface AdminRequest {
  actor: Principal;
  action: string;
  target: string | null;
  requestId: string;
}

interface ActionSpec {
  action: string;
  /** Where the target comes from: a path parameter, or a field of the JSON answer. */
  target: { param: string } | { field: string } | null;
  /** Fields of the JSON answer worth keeping (never `key`). */
  facts?: readonly string[];
  /** The module emits its own SIEM events for this action: chain intent and outcome, emit nothing more. */
  ownEvents?: true;
}

/**
 * The admin routes that change state or reveal recorded content, by `METHOD path`. Reads of metadata (and
 * policy validate/diff/simulate, which change nothing) are not audited. Approval votes are here for their intent:
 * the vote is chained before it can release a held request; the approvals module chains and emits the vote and
 * the transitions it causes itself.
 */
const ACTIONS: Record<string, ActionSpec> = {
  'POST /admin/v1/keys': { action: 'keys.create', target: { field: 'id' }, facts: ['subject', 'kind'] },
  'DELETE /admin/v1/keys/:id': { action: 'keys.revoke', target: { param: 'id' } },
  'PUT /admin/v1/providers/:name/credential': { action: 'credentials.set', target: { param: 'name' } },
  'GET /admin/v1/exchanges/:id': { action: 'exchange.view', target: { param: 'id' } },
  'GET /admin/v1/approvals/:id': { action: 'approval.view', target: { param: 'id' } },
  'POST /admin/v1/policies': { action: 'policy.push', target: { field: 'id' }, facts: ['number', 'hash', 'created'] },
  'POST /admin/v1/policies/:ref/activate': { action: 'policy.activate', target: { field: 'id' }, facts: ['number', 'mode'] },
  'POST /admin/v1/policies/rollback': { action: 'policy.rollback', target: { field: 'id' }, facts: ['number', 'mode'] },
  'POST /admin/v1/templates': { action: 'templates.push', target: { field: 'id' }, facts: ['version', 'hash'] },
  'POST /admin/v1/mcp/servers/:server/catalogue/accept': { action: 'mcp.catalogue_accept', target: { param: 'server' }, facts: ['set_hash'] },
  'PUT /admin/v1/mcp/servers/:server/credential': { action: 'mcp.credential_set', target: { param: 'server' } },
  'POST /admin/v1/investigations/:id/assign': { action: 'investigation.assign', target: { param: 'id' }, facts: ['state', 'assignee'] },
  'POST /admin/v1/investigations/:id/notes': { action: 'investigation.note', target: { param: 'id' }, facts: ['state'] },
  'POST /admin/v1/investigations/:id/close': { action: 'investigation.close', target: { param: 'id' }, facts: ['state'] },
  'POST /admin/v1/suspensions/lift': { action: 'suspension.lift', target: { field: 'identity' } },
  'POST /admin/v1/approvals/:id/approve': { action: 'approval.vote_approve', target: { param: 'id' }, facts: ['state'], ownEvents: true },
  'POST /admin/v1/approvals/:id/deny': { action: 'approval.vote_deny', target: { param: 'id' }, facts: ['state'], ownEvents: true },
};

/**
 * Records admin actions without touching each handler. The `authenticate` handed to admin routes remembers the
 * caller in the request's async context. For a change (any method but GET) it also chains the intent right after
 * authentication, before the handler can change anything: if that fails, authentication fails with
 * `recording_failed` (503) and nothing is changed. `wrap` holds the answer back until the outcome is recorded
 * (a change: success or failure; a view: only a successful one, before the content leaves), so nothing is
 * confirmed that the trail does not hold: if recording fails the connection is dropped instead.
 */
export function createAdminActivity(o: {
  requested(r: AdminRequest): Promise<void>;
  record(a: AdminActivity): Promise<void>;
  onRecordError(err: unknown, action: string): void;
}) {
  interface Slot {
    principal?: Principal;
    /** Set for a change once its intent is chained. */
    requestId?: string;
    intent?: { action: string; target: string | null };
  }
  const callers = new AsyncLocalStorage<Slot>();
  return {
    authenticate(inner: Authenticate): Authenticate {
      return async (credential, ctx) => {
        const p = await inner(credential, ctx);
        const slot = callers.getStore();
        if (!slot || slot.principal) return p;
        slot.principal = p;
        if (slot.intent) {
          const requestId = newId('adm');
          try {
            await o.requested({ actor: p, action: slot.intent.action, target: slot.intent.target, requestId });
          } catch (err) {
            o.onRecordError(err, slot.intent.action);
            throw new GatewayError('recording_failed', 'The action could not be recorded in the audit trail; nothing was changed.');
          }
          slot.requestId = requestId;
        }
        return p;
      };
    },

    wrap(routes: readonly Route[]): Route[] {
      return routes.map((route) => {
        const spec = ACTIONS[`${route.method} ${route.path}`];
        if (!spec) return route;
        const isChange = route.method !== 'GET';
        return {
          ...route,
          handler: (req, res, params) => {
            const paramTarget = spec.target !== null && 'param' in spec.target ? (params[spec.target.param] ?? null) : null;
            const slot: Slot = isChange ? { intent: { action: spec.action, target: paramTarget } } : {};
            holdEnd(res, (body) => {
              const failed = res.statusCode >= 400;
              if (!slot.principal || (failed && !slot.requestId)) return undefined;
              const answer = failed ? {} : parseAnswer(body);
              const target = spec.target === null ? null : 'param' in spec.target ? paramTarget : scalar(answer[spec.target.field]);
              const facts: AdminActivity['facts'] = {};
              for (const f of spec.facts ?? []) if (answer[f] !== undefined) facts[f] = scalar(answer[f]);
              const change = slot.requestId ? { requestId: slot.requestId, outcome: failed ? 'failure' as const : 'success' as const, status: res.statusCode } : undefined;
              return o.record({
                actor: slot.principal, action: spec.action, target: target === null ? null : String(target), facts, sourceIp: req.socket.remoteAddress, change,
                ...(spec.ownEvents ? { ownEvents: true as const } : {}),
              })
                .catch((err: unknown) => {
                  o.onRecordError(err, spec.action);
                  throw err;
                });
            });
            return callers.run(slot, () => route.handler(req, res, params));
          },
        };
      });
    },
  };
}

/** Delays `res.end(body)` until `before(body)` settles; drops the connection if it rejects. */
function holdEnd(res: ServerResponse, before: (body: unknown) => Promise<void> | undefined): void {
  const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
  res.end = ((...args: unknown[]) => {
    const wait = before(args[0]);
    if (!wait) return end(...args);
    wait.then(() => end(...args), () => res.destroy());
    return res;
  }) as ServerResponse['end'];
}

function parseAnswer(body: unknown): Record<string, unknown> {
  if (typeof body !== 'string' && !Buffer.isBuffer(body)) return {};
  try {
    const v: unknown = JSON.parse(body.toString());
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function scalar(v: unknown): string | number | boolean | null {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : null;
}
