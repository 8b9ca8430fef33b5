import type { IncomingMessage } from 'node:http';
import type { Clock } from '../core/clock.ts';
import { GatewayError } from '../core/errors.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { Route } from '../http/route.ts';
import { exchangeDetail, exchangeSummary } from '../audit/exchange-view.ts';
import { createApiKey, parseDuration, publicKeyView } from '../identity/key-service.ts';
import type { ExchangeFilter, ExchangeStatus, Store } from '../store/ports.ts';
import { isoParam, queryOf, readJson, requireRole, stringArray, send, type Authenticate } from './http.ts';

export interface AdminDeps {
  store: Store;
  keyring: Keyring;
  clock: Clock;
  authenticate: Authenticate;
  /** Called after a key is revoked so the change applies to the very next request. */
  onKeyRevoked(id: string): void;
  /** Called after a provider credential is stored (rotation without a restart). */
  onCredentialChanged(provider: string, apiKey: string): void;
  providers: { name: string; type: string; credentialSource: string }[];
  /** The configured routes in order (first match wins): client model (exact or glob) → provider, upstream model. */
  routes: { model: string; provider: string; upstreamModel: string | null }[];
}

/** Admin API v1 (docs/api.md). Every route checks roles first: deny by default. */
export function adminRoutes(d: AdminDeps): Route[] {
  const auth = (req: IncomingMessage, ...roles: Parameters<typeof requireRole>[2]) => requireRole(d.authenticate, req, roles);
  return [
    {
      method: 'GET', path: '/admin/v1/whoami',
      async handler(req, res) {
        const p = await auth(req, 'admin', 'auditor', 'policy-author', 'approver', 'user');
        send(res, 200, { subject: p.subject, kind: p.kind, name: p.displayName, groups: p.groups, roles: p.roles, auth_method: p.authMethod });
      },
    },
    {
      method: 'GET', path: '/admin/v1/exchanges',
      async handler(req, res) {
        await auth(req, 'admin', 'auditor');
        const rows = await d.store.exchanges.list(exchangeFilter(queryOf(req)));
        send(res, 200, { data: rows.map(exchangeSummary), next_before: rows.length ? rows[rows.length - 1]!.id : null });
      },
    },
    {
      method: 'GET', path: '/admin/v1/exchanges/:id',
      async handler(req, res, params) {
        await auth(req, 'admin', 'auditor');
        const detail = await exchangeDetail(d.store, d.keyring, params.id!);
        if (!detail) throw new GatewayError('not_found', 'No such exchange.');
        send(res, 200, detail);
      },
    },
    {
      method: 'GET', path: '/admin/v1/keys',
      async handler(req, res) {
        await auth(req, 'admin');
        send(res, 200, { data: (await d.store.apiKeys.list()).map(publicKeyView) });
      },
    },
    {
      method: 'POST', path: '/admin/v1/keys',
      async handler(req, res) {
        const admin = await auth(req, 'admin');
        const b = await readJson(req);
        if (typeof b.name !== 'string' || !/^[A-Za-z0-9@._+-]{1,128}$/.test(b.name)) throw new GatewayError('invalid_request', '`name` is required (letters, digits, @._+-).');
        const kind = b.kind === undefined ? 'user' : b.kind;
        if (kind !== 'user' && kind !== 'service') throw new GatewayError('invalid_request', '`kind` must be "user" or "service".');
        let expiresAt: number | null = null;
        if (b.expires_in !== undefined) {
          try { expiresAt = d.clock.now() + parseDuration(typeof b.expires_in === 'string' ? b.expires_in : ''); } catch { throw new GatewayError('invalid_request', '`expires_in` must look like 30d, 12h or 90m.'); }
        }
        const { record, secret } = await createApiKey(d.store.apiKeys, {
          name: b.name, kind, groups: stringArray(b.groups, 'groups'), expiresAt, createdBy: admin.subject,
          description: typeof b.description === 'string' ? b.description : null,
        }, d.clock.now());
        send(res, 201, { ...publicKeyView(record), key: secret });
      },
    },
    {
      method: 'DELETE', path: '/admin/v1/keys/:id',
      async handler(req, res, params) {
        await auth(req, 'admin');
        const ok = await d.store.apiKeys.revoke(params.id!, d.clock.now());
        d.onKeyRevoked(params.id!);
        if (!ok) throw new GatewayError('not_found', 'No such active key.');
        send(res, 200, { id: params.id, revoked: true });
      },
    },
    {
      method: 'GET', path: '/admin/v1/providers',
      async handler(req, res) {
        await auth(req, 'admin');
        const stored = new Map((await d.store.credentials.list()).map((c) => [c.provider, c]));
        send(res, 200, {
          data: d.providers.map((p) => ({
            name: p.name, type: p.type, credential_source: p.credentialSource,
            credential_updated_at: stored.has(p.name) ? new Date(stored.get(p.name)!.updatedAt).toISOString() : null,
          })),
          // Where each model goes; names only — base URLs and credentials stay in the config.
          routes: d.routes.map((r) => ({ model: r.model, provider: r.provider, upstream_model: r.upstreamModel })),
        });
      },
    },
    {
      method: 'PUT', path: '/admin/v1/providers/:name/credential',
      async handler(req, res, params) {
        const admin = await auth(req, 'admin');
        const name = params.name!;
        if (!d.providers.some((p) => p.name === name)) throw new GatewayError('not_found', 'No such provider.');
        const b = await readJson(req);
        if (typeof b.api_key !== 'string' || b.api_key.length < 8) throw new GatewayError('invalid_request', '`api_key` is required.');
        await d.store.credentials.put(name, d.keyring.seal('provider-credentials', Buffer.from(b.api_key), `provider/${name}`), d.clock.now(), admin.subject);
        d.onCredentialChanged(name, b.api_key);
        // Write-only: the answer confirms the change and never echoes the key.
        send(res, 200, { provider: name, updated: true });
      },
    },
  ];
}

const STATUSES = new Set<ExchangeStatus>(['in_progress', 'completed', 'upstream_error', 'client_aborted', 'incomplete', 'rejected', 'failed']);

/** What a group, client tool family (src/analytics/client-family.ts) and finding type (src/detect) can be. */
const DIMENSION_PARAMS = [
  ['group', 'group', /^[^\p{Cc}]{1,256}$/u, 'a group name'],
  ['client_tool', 'clientTool', /^[a-z0-9._-]{1,32}$/, 'a client tool family such as openai-python'],
  ['finding_type', 'findingType', /^[A-Z][A-Z0-9_]{0,63}$/, 'a finding type such as EMAIL_ADDRESS'],
] as const;

/** The filters by a usage dimension (group, client tool, finding type), each checked for the shape its values have. */
function dimensionFilters(q: URLSearchParams): Pick<ExchangeFilter, 'group' | 'clientTool' | 'findingType'> {
  const f: Pick<ExchangeFilter, 'group' | 'clientTool' | 'findingType'> = {};
  for (const [param, key, shape, what] of DIMENSION_PARAMS) {
    const v = q.get(param);
    if (v === null || v === '') continue;
    if (!shape.test(v)) throw new GatewayError('invalid_request', `\`${param}\` must be ${what}.`);
    f[key] = v;
  }
  return f;
}

/** The list's filters from a query (the export reads the same ones, with its own larger `limit`). */
export function exchangeFilter(q: URLSearchParams, maxLimit = 1000): ExchangeFilter {
  const f: ExchangeFilter = {};
  const status = q.get('status');
  if (status) {
    // One status or several, comma-separated (the usage dashboard's errors are four: docs/analytics.md).
    const list = [...new Set(status.split(','))];
    if (!list.every((s) => STATUSES.has(s as ExchangeStatus))) throw new GatewayError('invalid_request', 'Unknown `status`.');
    f.status = list.length === 1 ? (list[0] as ExchangeStatus) : (list as ExchangeStatus[]);
  }
  Object.assign(f, dimensionFilters(q));
  const errorCode = q.get('error_code');
  if (errorCode) {
    if (!/^[a-z0-9_]{1,64}$/.test(errorCode)) throw new GatewayError('invalid_request', '`error_code` must be an error code such as policy_denied.');
    f.errorCode = errorCode;
  }
  for (const k of ['subject', 'model', 'before'] as const) {
    const v = q.get(k);
    if (v) f[k] = v;
  }
  for (const k of ['since', 'until'] as const) {
    const t = isoParam(q, k);
    if (t !== undefined) f[k] = t;
  }
  const limit = q.get('limit');
  if (limit) f.limit = Math.min(maxLimit, Math.max(1, Number(limit) || 50));
  return f;
}
