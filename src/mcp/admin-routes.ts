import type { Clock } from '../core/clock.ts';
import { GatewayError } from '../core/errors.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { readJson, requireRole, send, type Authenticate } from '../admin/http.ts';
import type { Route } from '../http/route.ts';
import type { CredentialRepo } from '../store/ports.ts';
import type { CatalogueGuard } from './catalogue.ts';
import type { McpCatalogue, McpPinRepo } from './pin-repo.ts';
import { credentialAad, credentialName, type McpUpstream } from './upstream.ts';

export interface McpAdminDeps {
  authenticate: Authenticate;
  pins: McpPinRepo;
  catalogue: CatalogueGuard;
  upstreams: ReadonlyMap<string, McpUpstream>;
  credentials: CredentialRepo;
  keyring: Keyring;
  clock: Clock;
}

/**
 * `/admin/v1/mcp/...`: the fronted servers, their pinned and pending tool catalogues, and the approver's accept of
 * a pending catalogue — bound to the set hash the approver reviewed, so a server that changes its tools again in
 * the meantime cannot slip the newer set through. Changes go through the admin activity recorder (chained).
 */
export function mcpAdminRoutes(d: McpAdminDeps): Route[] {
  const known = (server: string): void => {
    if (!d.upstreams.has(server)) throw new GatewayError('not_found', 'No such MCP server.');
  };
  return [
    {
      method: 'GET', path: '/admin/v1/mcp/servers',
      async handler(req, res) {
        await requireRole(d.authenticate, req, ['admin', 'approver', 'auditor']);
        const states = await d.pins.list();
        send(res, 200, {
          data: [...d.upstreams.keys()].map((name) => {
            const pinned = states.find((s) => s.server === name && s.state === 'pinned');
            const pending = states.find((s) => s.server === name && s.state === 'pending');
            return { name, pinned_set_hash: pinned?.setHash ?? null, pinned_at: iso(pinned?.at), pending_set_hash: pending?.setHash ?? null, pending_since: iso(pending?.at) };
          }),
        });
      },
    },
    {
      method: 'GET', path: '/admin/v1/mcp/servers/:server/catalogue',
      async handler(req, res, params) {
        await requireRole(d.authenticate, req, ['admin', 'approver', 'auditor']);
        known(params.server!);
        const { pinned, pending } = await d.pins.get(params.server!);
        send(res, 200, { server: params.server, pinned: view(pinned), pending: view(pending), changes: diff(pinned, pending) });
      },
    },
    {
      method: 'POST', path: '/admin/v1/mcp/servers/:server/catalogue/accept',
      async handler(req, res, params) {
        const who = await requireRole(d.authenticate, req, ['admin', 'approver']);
        known(params.server!);
        const b = await readJson(req);
        if (typeof b.set_hash !== 'string' || !/^[0-9a-f]{64}$/.test(b.set_hash)) throw new GatewayError('invalid_request', '`set_hash` must be the pending catalogue\'s set hash (64 hex digits).');
        const pinned = await d.pins.accept(params.server!, b.set_hash, d.clock.now(), who.subject);
        if (!pinned) throw new GatewayError('conflict', 'No pending catalogue with this set hash (it was accepted already, or the server changed its tools again: review the current one).');
        d.catalogue.invalidate(params.server!);
        send(res, 200, { server: params.server, accepted: true, set_hash: pinned.setHash, tools: Object.keys(pinned.tools).sort() });
      },
    },
    {
      method: 'PUT', path: '/admin/v1/mcp/servers/:server/credential',
      async handler(req, res, params) {
        const who = await requireRole(d.authenticate, req, ['admin']);
        const server = params.server!;
        known(server);
        const b = await readJson(req);
        if (typeof b.credential !== 'string' || b.credential.length < 8) throw new GatewayError('invalid_request', '`credential` is required.');
        await d.credentials.put(credentialName(server), d.keyring.seal('provider-credentials', Buffer.from(b.credential), credentialAad(server)), d.clock.now(), who.subject);
        d.upstreams.get(server)!.setCredential(b.credential);
        // Write-only: the answer confirms the change and never echoes the credential.
        send(res, 200, { server, updated: true });
      },
    },
  ];
}

function iso(at: number | undefined): string | null {
  return at === undefined ? null : new Date(at).toISOString();
}

function view(c: McpCatalogue | undefined): Record<string, unknown> | null {
  if (!c) return null;
  return {
    set_hash: c.setHash, at: iso(c.at), by: c.by,
    tools: Object.fromEntries(Object.entries(c.tools).map(([n, t]) => [n, t.hash])),
    ...(c.definitions ? { definitions: c.definitions } : {}),
    ...(c.findings ? { findings: c.findings } : {}),
  };
}

function diff(pinned: McpCatalogue | undefined, pending: McpCatalogue | undefined): Record<string, string[]> | null {
  if (!pinned || !pending) return null;
  const names = new Set([...Object.keys(pinned.tools), ...Object.keys(pending.tools)]);
  const out = { added: [] as string[], removed: [] as string[], changed: [] as string[] };
  for (const n of [...names].sort()) {
    const a = pinned.tools[n];
    const b = pending.tools[n];
    if (!a) out.added.push(n);
    else if (!b) out.removed.push(n);
    else if (a.hash !== b.hash) out.changed.push(n);
  }
  return out;
}
