import type { IncomingMessage } from 'node:http';
import type { Clock } from '../core/clock.ts';
import { GatewayError } from '../core/errors.ts';
import type { Route } from '../http/route.ts';
import type { PolicyRuntime } from '../governance/policy-runtime.ts';
import type { PolicyService } from '../governance/policy-service.ts';
import type { PolicySimulator } from '../governance/policy-simulate.ts';
import { parseDuration } from '../identity/key-service.ts';
import type { PolicyVersionRecord } from '../policy/versions.ts';
import { queryOf, readJson, requireRole, send, type Authenticate } from './http.ts';

export interface PolicyRouteDeps {
  service: PolicyService;
  runtime: PolicyRuntime;
  simulator: PolicySimulator;
  authenticate: Authenticate;
  clock: Clock;
}

const READERS = ['admin', 'policy-author', 'auditor'] as const;
const MAX_POLICY_BYTES = 1024 * 1024;

/**
 * Policy versions over the admin API (docs/api.md#policies). Policy authors validate, push, diff and simulate;
 * only admins activate and roll back; auditors read.
 */
export function policyRoutes(d: PolicyRouteDeps): Route[] {
  const auth = (req: IncomingMessage, ...roles: Parameters<typeof requireRole>[2]) => requireRole(d.authenticate, req, roles);
  const fileMode = (): void => {
    if (d.runtime.state().source === 'file') throw new GatewayError('conflict', 'This gateway runs the policy file from its config (policy.file); store versions are not used.');
  };
  return [
    {
      method: 'POST', path: '/admin/v1/policies/validate',
      async handler(req, res) {
        await auth(req, 'admin', 'policy-author');
        send(res, 200, d.service.validate(sourceOf(await readJson(req, MAX_POLICY_BYTES * 2)), 'policy'));
      },
    },
    {
      method: 'POST', path: '/admin/v1/policies',
      async handler(req, res) {
        const p = await auth(req, 'admin', 'policy-author');
        const b = await readJson(req, MAX_POLICY_BYTES * 2);
        const message = typeof b.message === 'string' ? b.message.slice(0, 2000) : '';
        const { version, created } = await d.service.push(sourceOf(b), { author: p.subject, message });
        send(res, created ? 201 : 200, { ...versionView(version), created });
      },
    },
    {
      method: 'GET', path: '/admin/v1/policies',
      async handler(req, res) {
        await auth(req, ...READERS);
        const limit = Math.min(1000, Math.max(1, Number(queryOf(req).get('limit')) || 100));
        const h = await d.service.history(limit);
        send(res, 200, {
          data: h.versions.map((v) => ({ ...versionView(v), active: v.active, activated_at: v.activatedAt.map(iso) })),
          activations: h.activations.map((a) => ({ seq: a.seq, version_id: a.versionId, mode: a.mode, action: a.action, at: iso(a.at), by: a.by })),
          runtime: runtimeView(d.runtime),
        });
      },
    },
    {
      method: 'GET', path: '/admin/v1/policies/:ref',
      async handler(req, res, params) {
        await auth(req, ...READERS);
        const v = await d.service.resolve(params.ref!);
        send(res, 200, { ...versionView(v), source: v.source });
      },
    },
    {
      method: 'POST', path: '/admin/v1/policies/:ref/diff',
      async handler(req, res, params) {
        await auth(req, ...READERS);
        const b = await readJson(req, MAX_POLICY_BYTES * 2);
        const to = typeof b.against === 'string' ? { ref: b.against } : { source: sourceOf(b), label: typeof b.label === 'string' ? b.label : 'candidate' };
        send(res, 200, { diff: await d.service.diff(params.ref!, to) });
      },
    },
    {
      method: 'POST', path: '/admin/v1/policies/:ref/activate',
      async handler(req, res, params) {
        const p = await auth(req, 'admin');
        fileMode();
        const b = await readJson(req);
        if (b.mode !== undefined && b.mode !== 'enforce' && b.mode !== 'observe') throw new GatewayError('invalid_request', '`mode` must be "enforce" or "observe".');
        const r = await d.service.activate(params.ref!, { by: p.subject, mode: b.mode === 'observe' ? 'observe' : 'enforce' });
        await d.runtime.refresh();
        send(res, 200, { ...versionView(r.version), mode: r.activation.mode, activated_at: iso(r.activation.at), runtime: runtimeView(d.runtime) });
      },
    },
    {
      method: 'POST', path: '/admin/v1/policies/rollback',
      async handler(req, res) {
        const p = await auth(req, 'admin');
        fileMode();
        const r = await d.service.rollback(p.subject);
        await d.runtime.refresh();
        send(res, 200, { ...versionView(r.version), mode: r.activation.mode, activated_at: iso(r.activation.at), runtime: runtimeView(d.runtime) });
      },
    },
    {
      method: 'POST', path: '/admin/v1/policies/:ref/simulate',
      async handler(req, res, params) {
        await auth(req, 'admin', 'policy-author', 'auditor');
        const b = await readJson(req);
        const now = d.clock.now();
        let since: number;
        try {
          since = now - parseDuration(typeof b.since === 'string' ? b.since : '7d');
        } catch {
          throw new GatewayError('invalid_request', '`since` must look like 7d, 12h or 90m.');
        }
        const limit = typeof b.limit === 'number' ? Math.min(100_000, Math.max(1, Math.floor(b.limit))) : 10_000;
        send(res, 200, await d.simulator.simulate({ ref: params.ref!, since, until: now, limit }));
      },
    },
  ];
}

function sourceOf(b: Record<string, unknown>): string {
  if (typeof b.source !== 'string' || b.source.length === 0) throw new GatewayError('invalid_request', '`source` (the policy YAML text) is required.');
  return b.source;
}

/** The installed version as the API shows it (snake_case like every other field). */
function runtimeView(r: PolicyRuntime): Record<string, unknown> {
  const s = r.state();
  return { source: s.source, version_id: s.versionId, mode: s.mode, error: s.error };
}

function versionView(v: Omit<PolicyVersionRecord, 'source'>): Record<string, unknown> {
  return { id: v.id, number: v.number, hash: v.hash, author: v.author, message: v.message, created_at: iso(v.createdAt) };
}

function iso(t: number): string {
  return new Date(t).toISOString();
}
