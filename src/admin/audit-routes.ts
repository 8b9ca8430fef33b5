import type { IncomingMessage } from 'node:http';
import type { Clock } from '../core/clock.ts';
import { GatewayError } from '../core/errors.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { Route } from '../http/route.ts';
import { exportBundle } from '../audit/bundle.ts';
import type { AuditLog } from '../audit/log.ts';
import { loadSession, sessionView } from '../audit/replay.ts';
import type { AuditRepo, SessionFilter } from '../audit/repo.ts';
import { auditAdminAction } from '../audit/runtime.ts';
import { verifyReportJson } from '../audit/report-json.ts';
import { verifyStore } from '../audit/verify-store.ts';
import type { Store } from '../store/ports.ts';
import { isoParam, queryOf, requireRole, send, type Authenticate } from './http.ts';

export interface AuditRouteDeps {
  store: Store;
  repo: AuditRepo;
  keyring: Keyring;
  clock: Clock;
  log: AuditLog;
  authenticate: Authenticate;
}

/**
 * Audit trail and sessions for auditors and admins (docs/api.md, docs/audit.md). Reading bodies (a session's
 * prompts and answers) and exporting the trail are themselves chained before anything is returned: if that
 * entry cannot be written, the request fails (closed).
 */
export function auditRoutes(d: AuditRouteDeps): Route[] {
  const auditor = (req: IncomingMessage) => requireRole(d.authenticate, req, ['admin', 'auditor']);
  return [
    {
      method: 'GET', path: '/admin/v1/audit/public-key',
      async handler(req, res) {
        await requireRole(d.authenticate, req, ['admin', 'auditor', 'policy-author', 'approver', 'user']);
        send(res, 200, { key_id: d.log.publicKey.keyId, public_key_pem: d.log.publicKey.publicKeyPem, algorithm: 'Ed25519' });
      },
    },
    {
      method: 'GET', path: '/admin/v1/audit/verify',
      async handler(req, res) {
        await auditor(req);
        const bodies = queryOf(req).get('bodies') !== 'false';
        const r = await verifyStore({ repo: d.repo, pinnedPublicKeyPem: d.log.publicKey.publicKeyPem, bodies, now: d.clock.now() });
        send(res, 200, verifyReportJson(r));
      },
    },
    {
      method: 'GET', path: '/admin/v1/audit/export',
      async handler(req, res) {
        const p = await auditor(req);
        const q = queryOf(req);
        const since = isoParam(q, 'since') ?? 0;
        const until = isoParam(q, 'until') ?? d.clock.now() + 1;
        if (!(since < until)) throw new GatewayError('invalid_request', '`since` must be before `until`.');
        await auditAdminAction(d.log, { actor: p.subject, action: 'audit.export', target: null, details: { since, until } });
        send(res, 200, await exportBundle({ repo: d.repo, log: d.log, since, until, now: d.clock.now() }));
      },
    },
    {
      method: 'GET', path: '/admin/v1/sessions',
      async handler(req, res) {
        await auditor(req);
        const q = queryOf(req);
        const f: SessionFilter = { since: isoParam(q, 'since'), until: isoParam(q, 'until') };
        const subject = q.get('subject');
        if (subject) f.subject = subject;
        const limit = q.get('limit');
        if (limit) f.limit = Math.min(1000, Math.max(1, Number(limit) || 50));
        send(res, 200, { data: (await d.repo.sessions(f)).map(sessionView) });
      },
    },
    {
      method: 'GET', path: '/admin/v1/sessions/:id',
      async handler(req, res, params) {
        const p = await auditor(req);
        const id = params.id!;
        if (!(await d.repo.session(id))) throw new GatewayError('not_found', 'No such session.');
        await auditAdminAction(d.log, { actor: p.subject, action: 'session.view', target: id });
        const rec = await loadSession({ store: d.store, repo: d.repo, keyring: d.keyring, id });
        if (!rec) throw new GatewayError('not_found', 'No such session.');
        send(res, 200, { ...sessionView(rec.session), exchanges: rec.exchanges });
      },
    },
  ];
}


