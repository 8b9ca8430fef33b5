import { AsyncLocalStorage } from 'node:async_hooks';
import type { ServerResponse } from 'node:http';
import type { Principal } from '../core/principal.ts';
import type { Route } from '../http/route.ts';
import type { Authenticate } from './http.ts';

/** One successful admin action, as the audit trail and the events pipeline receive it. No secrets, no content. */
export interface AdminActivity {
  actor: Principal;
  /** Stable verb from ACTIONS, e.g. `keys.create`. */
  action: string;
  /** What it acted on: an id or a name. */
  target: string | null;
  /** Safe facts picked from the answer (ids, numbers): never the answer itself (a new key's secret is in it). */
  facts: Record<string, string | number | boolean | null>;
  sourceIp: string | undefined;
}

interface ActionSpec {
  action: string;
  /** Where the target comes from: a path parameter, or a field of the JSON answer. */
  target: { param: string } | { field: string } | null;
  /** Fields of the JSON answer worth keeping (never `key`). */
  facts?: readonly string[];
}

/**
 * The admin routes that change state or reveal recorded content, by `METHOD path`. Approval votes are not here:
 * the approvals module chains every transition and refusal itself. Reads of metadata are not audited.
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
};

/**
 * Records admin actions without touching each handler. The `authenticate` handed to admin routes remembers the
 * caller in the request's async context; `wrap` holds a successful answer back until its action is recorded, so
 * a change that cannot be audited is never confirmed: if recording fails the connection is dropped instead.
 */
export function createAdminActivity(o: { record(a: AdminActivity): Promise<void>; onRecordError(err: unknown, action: string): void }) {
  const callers = new AsyncLocalStorage<{ principal?: Principal }>();
  return {
    authenticate(inner: Authenticate): Authenticate {
      return async (credential, ctx) => {
        const p = await inner(credential, ctx);
        const slot = callers.getStore();
        if (slot) slot.principal = p;
        return p;
      };
    },

    wrap(routes: readonly Route[]): Route[] {
      return routes.map((route) => {
        const spec = ACTIONS[`${route.method} ${route.path}`];
        if (!spec) return route;
        return {
          ...route,
          handler: (req, res, params) => {
            const slot: { principal?: Principal } = {};
            holdEnd(res, (body) => {
              if (res.statusCode >= 400 || !slot.principal) return undefined;
              const answer = parseAnswer(body);
              const target = spec.target === null ? null : 'param' in spec.target ? (params[spec.target.param] ?? null) : scalar(answer[spec.target.field]);
              const facts: AdminActivity['facts'] = {};
              for (const f of spec.facts ?? []) if (answer[f] !== undefined) facts[f] = scalar(answer[f]);
              return o.record({ actor: slot.principal, action: spec.action, target: target === null ? null : String(target), facts, sourceIp: req.socket.remoteAddress })
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
