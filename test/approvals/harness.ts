import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before } from 'node:test';
import OpenAI from 'openai';
import { createApprovals, type ApprovalsModule } from '../../src/approvals/index.ts';
import type { ApprovalsConfig } from '../../src/approvals/config-schema.ts';
import { compileApprovalRule, type ApprovalRuleSpec } from '../../src/approvals/rule.ts';
import type { ApprovalAuditRecord } from '../../src/approvals/service.ts';
import { approvalRoutes } from '../../src/admin/approval-routes.ts';
import { systemClock } from '../../src/core/clock.ts';
import { GatewayError, toGatewayError } from '../../src/core/errors.ts';
import type { Finding } from '../../src/core/findings.ts';
import { ApiKeyAuthenticator } from '../../src/identity/api-key-authenticator.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { Router } from '../../src/http/route.ts';
import type { DecisionRecord } from '../../src/proxy/context.ts';
import type { ExchangeGuard } from '../../src/proxy/guard.ts';
import { openApprovalRepo } from '../../src/store/approval-repo.ts';
import { startTestGateway, type TestGateway, type TestGatewayOptions } from '../helpers/gateway.ts';

/**
 * A real gateway (test/helpers/gateway.ts) whose guard asks for approval through the real gate — standing in for
 * the policy engine's `require_approval` — plus the approvals admin API on its own loopback server (main.ts wiring
 * is the lead's), a webhook receiver, and approver keys: bob (sec), carol (legal), dave (sec+legal), mallory (eng).
 */
export interface Harness {
  t: TestGateway;
  approvals: ApprovalsModule;
  adminUrl: string;
  keys: { alice: string; bob: string; carol: string; dave: string; mallory: string; breaker: string };
  webhooks: { path: string; body: Record<string, unknown> }[];
  emitted: ApprovalAuditRecord[];
  /** The rule the stand-in policy applies to every request (`findings` are attached to the exchange). */
  setRule(spec: Partial<ApprovalRuleSpec> & { pending_ms?: number }, findings?: Finding[]): void;
  api(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
  /** The CLI in its own process, as `key`. */
  cli(key: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  pendingFor(subject: string, exclude?: Set<string>): Promise<string>;
  close(): Promise<void>;
}

const BIN = new URL('../../bin/portcullis.js', import.meta.url).pathname;

function listen(server: Server): Promise<string> {
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

async function readBody(req: IncomingMessage): Promise<string> {
  let s = '';
  for await (const c of req) s += (c as Buffer).toString();
  return s;
}

export async function startHarness(o: TestGatewayOptions & { config?: Partial<ApprovalsConfig> } = {}): Promise<Harness> {
  const webhooks: Harness['webhooks'] = [];
  const receiver = createServer((req, res) => {
    void readBody(req).then((b) => {
      webhooks.push({ path: req.url ?? '/', body: JSON.parse(b) as Record<string, unknown> });
      res.writeHead(200).end('ok');
    });
  });
  const receiverUrl = await listen(receiver);
  const t = await startTestGateway(o);
  const mk = async (name: string, groups: string[]) =>
    (await createApiKey(t.gw.store.apiKeys, { name, kind: 'user', groups, expiresAt: null, createdBy: 'test' }, Date.now())).secret;
  const keys = {
    alice: t.userKey, bob: await mk('bob', ['sec']), carol: await mk('carol', ['legal']), dave: await mk('dave', ['sec', 'legal']),
    mallory: await mk('mallory', ['eng']), breaker: await mk('breaker', ['eng', 'oncall']),
  };
  const auth = new ApiKeyAuthenticator({ repo: t.gw.store.apiKeys, clock: systemClock, roles: { admin: ['portcullis-admins'] }, cacheTtlMs: 0 });
  const authenticate = async (credential: string | undefined) => {
    if (!credential || !auth.accepts(credential)) throw new GatewayError('unauthenticated', 'Invalid or missing Portcullis API key.');
    return auth.authenticate(credential, { sourceIp: '127.0.0.1', userAgent: undefined });
  };
  let adminUrl = '';
  const emitted: ApprovalAuditRecord[] = [];
  const approvals = await createApprovals({
    repo: openApprovalRepo(t.gw.store), keyring: t.gw.keyring, clock: systemClock, publicUrl: () => adminUrl, emit: (e) => void emitted.push(e),
    baseDir: process.cwd(), env: process.env,
    config: {
      max_hold_seconds: 20, keep_alive_seconds: 1, poll_ms: 50, sweep_interval_seconds: 1,
      webhooks: [{ url: `${receiverUrl}/generic`, format: 'json' }, { url: `${receiverUrl}/slack`, format: 'slack' }], ...o.config,
    },
  });
  const router = new Router().add(...approvalRoutes({ approvals: approvals.service, keyring: t.gw.keyring, authenticate }));
  const admin = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const m = router.match(req.method ?? 'GET', path);
    const fail = (err: unknown): void => {
      const g = toGatewayError(err);
      const body = JSON.stringify({ error: { code: g.code, message: g.publicMessage } });
      if (!res.headersSent) res.writeHead(g.status, { 'content-type': 'application/json' }).end(body);
    };
    if (!m || m === 'method') return fail(new GatewayError('not_found', 'no such endpoint'));
    m.route.handler(req, res, m.params).catch(fail);
  });
  adminUrl = await listen(admin);

  let rule: { spec: ApprovalRuleSpec; pendingMs?: number; findings: Finding[] } | undefined;
  const guard: ExchangeGuard = {
    async inspectRequest(ctx) {
      if (!rule) throw new GatewayError('evaluation_error', 'no rule set');
      const approval = { ...compileApprovalRule('r-confidential', rule.spec), ...(rule.pendingMs ? { pendingExpiryMs: rule.pendingMs } : {}) };
      const decision: DecisionRecord = {
        decisionId: `dec_${ctx.id.slice(3)}`, policyVersion: 'pv-1', effect: 'require_approval', enforced: true,
        reasons: [{ code: 'approval_required_by_rule', ruleId: 'r-confidential' }], matchedRuleIds: ['r-confidential'], approval,
      };
      ctx.findings.push(...rule.findings);
      ctx.decision = decision;
      await approvals.gate.check(ctx, decision);
    },
    responseTransformer: () => undefined,
    filterModels: (_p, m) => m,
  };
  t.gw.setGuard(guard);

  const api: Harness['api'] = async (key, method, path, body) => {
    const r = await fetch(`${adminUrl}${path}`, {
      method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
  return {
    t, approvals, adminUrl, keys, webhooks, emitted, api,
    setRule(spec, findings = []) {
      const { pending_ms: pendingMs, ...rest } = spec;
      rule = {
        spec: { mode: 'hold', approver_groups: ['sec'], quorum: 1, scope: 'request', pending_expiry_seconds: 60, justification_required: false, break_glass_groups: ['oncall'], ...rest },
        pendingMs, findings,
      };
    },
    cli: (key, args) => new Promise((resolve) => {
      const p = spawn(process.execPath, [BIN, 'approvals', ...args], { env: { ...process.env, PORTCULLIS_TOKEN: key, PORTCULLIS_GATEWAY: adminUrl } });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    }),
    async pendingFor(subject, exclude = new Set()) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const r = await api(keys.dave, 'GET', '/admin/v1/approvals?state=pending');
        const hit = (r.json.data as { id: string; requester: string }[]).find((a) => a.requester === subject && !exclude.has(a.id));
        if (hit) return hit.id;
        if (Date.now() > deadline) throw new Error('no pending approval appeared');
        await new Promise((ok) => setTimeout(ok, 20));
      }
    },
    async close() {
      await approvals.close();
      const closing = [admin, receiver].map((s) => new Promise<void>((ok) => s.close(() => ok())));
      for (const s of [admin, receiver]) s.closeAllConnections();
      await Promise.all(closing);
      await t.close();
    },
  };
}

/** One harness per `describe`, started before and closed after (even when a test fails); `openai` acts as alice. */
export function harnessSuite(o?: Parameters<typeof startHarness>[0]): { h: Harness; openai: OpenAI } {
  let current: Harness | undefined;
  let client: OpenAI | undefined;
  before(async () => {
    current = await startHarness(o);
    client = new OpenAI({ apiKey: current.keys.alice, baseURL: current.t.openaiBase, maxRetries: 0 });
  });
  after(async () => {
    await current?.close();
  });
  const lazy = <T extends object>(get: () => T | undefined): T =>
    new Proxy({} as T, {
      get: (_t, k) => {
        const v = get();
        if (!v) throw new Error('harness not started');
        return Reflect.get(v, k) as unknown;
      },
    });
  return { h: lazy(() => current), openai: lazy(() => client) };
}
