import { adminCall, adminErrorText, adminTarget, type AdminTarget } from '../admin-target.ts';
import { print, printJson, UsageError, type CliCommand, type CliIo } from '../io.ts';
import { parseFlags } from './login.ts';

/**
 * MCP tool catalogues through the admin API (docs/mcp.md#4-pinned-tool-definitions-rug-pulls-tool-poisoning), as
 * the caller src/cli/admin-target.ts finds. Tool names, descriptions and findings come from the MCP servers —
 * hostile text: everything goes out through io.ts, which shows control characters escaped.
 */
type Json = Record<string, unknown>;

const USAGE = 'portcullis mcp catalogues [--server NAME] [--json] [--gateway URL]\n'
  + '       portcullis mcp catalogue show SERVER [--json]\n'
  + '       portcullis mcp catalogue accept SERVER [--digest SET_HASH] [--json]';

export const mcpCommand: CliCommand = {
  summary: 'list MCP servers\' pinned and pending tool catalogues; show one; accept a pending one',
  usage: USAGE,
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parseFlags(rest, { server: { type: 'string' }, json: { type: 'boolean' }, digest: { type: 'string' }, 'key-file': { type: 'string' } });
    if (sub === 'catalogues') {
      if (positionals.length > 0) throw new UsageError('`catalogues` takes no arguments (--server NAME filters)');
      return listCatalogues(io, await target(io, values), { server: values.server, json: values.json === true });
    }
    const [action, server, ...extra] = positionals;
    if (sub !== 'catalogue' || (action !== 'show' && action !== 'accept')) throw new UsageError('expected `catalogues`, `catalogue show SERVER` or `catalogue accept SERVER`');
    if (!server || extra.length > 0) throw new UsageError('give one server name');
    if (values.digest !== undefined && (action !== 'accept' || !/^[0-9a-f]{64}$/.test(values.digest))) throw new UsageError('--digest is the pending catalogue\'s set hash (64 hex digits), for `accept`');
    const s = await target(io, values);
    return action === 'show' ? showCatalogue(io, s, server, values.json === true) : acceptCatalogue(io, s, { server, digest: values.digest, json: values.json === true });
  },
};

const target = (io: CliIo, v: { gateway?: string | undefined; 'key-file'?: string | undefined }): Promise<AdminTarget> => adminTarget(io, { gateway: v.gateway, keyFile: v['key-file'] });
const path = (server: string): string => `/admin/v1/mcp/servers/${encodeURIComponent(server)}/catalogue`;
const str = (v: unknown): string => (typeof v === 'string' ? v : v === null || v === undefined ? '-' : JSON.stringify(v));

async function listCatalogues(io: CliIo, s: AdminTarget, o: { server: string | undefined; json: boolean }): Promise<number> {
  const r = await adminCall(s, 'GET', '/admin/v1/mcp/servers');
  if (r.status !== 200) return failed(io, 'catalogues', r);
  const rows = (r.json.data as Json[]).filter((x) => o.server === undefined || x.name === o.server);
  if (o.server !== undefined && rows.length === 0) {
    print(io.stderr, `catalogues failed: no MCP server named ${o.server}`);
    return 1;
  }
  if (o.json) printJson(io.stdout, rows);
  else {
    for (const x of rows) {
      const pending = x.pending_set_hash ? `PENDING ${str(x.pending_set_hash)} since ${str(x.pending_since)}` : 'nothing pending';
      print(io.stdout, `${str(x.name).padEnd(20)} pinned ${str(x.pinned_set_hash)} at ${str(x.pinned_at)}  ${pending}`);
    }
  }
  return 0;
}

async function showCatalogue(io: CliIo, s: AdminTarget, server: string, json: boolean): Promise<number> {
  const r = await adminCall(s, 'GET', path(server));
  if (r.status !== 200) return failed(io, 'show', r);
  if (json) {
    printJson(io.stdout, r.json);
    return 0;
  }
  const out = (line: string): void => void print(io.stdout, line);
  out(`server   ${str(r.json.server)}`);
  for (const state of ['pinned', 'pending'] as const) {
    const c = r.json[state] as Json | null;
    if (!c) {
      out(`${state.padEnd(8)} none`);
      continue;
    }
    out(`${state.padEnd(8)} set ${str(c.set_hash)} at ${str(c.at)} by ${str(c.by)}`);
    const defs = (c.definitions ?? {}) as Record<string, Json>;
    for (const [name, hash] of Object.entries(c.tools as Record<string, string>)) {
      const d = defs[name];
      out(`  ${name}  ${hash}${d && typeof d.description === 'string' ? `  ${d.description}` : ''}`);
    }
  }
  const changes = r.json.changes as Record<string, string[]> | null;
  if (changes) for (const k of ['added', 'removed', 'changed']) out(`${k.padEnd(8)} ${changes[k]?.length ? changes[k].join(', ') : '-'}`);
  const findings = ((r.json.pending as Json | null)?.findings ?? []) as Json[];
  for (const f of findings) out(`finding  ${str(f.tool)}: ${str(f.type)} (${str(f.marker)})`);
  if (r.json.pending) out(`accept with: portcullis mcp catalogue accept ${server} --digest ${str((r.json.pending as Json).set_hash)}`);
  return 0;
}

/**
 * The accept is bound to a set hash (a server that changed again meanwhile gets 409). Without --digest it is the
 * pending catalogue's hash as fetched now, printed with what it changes, so the record still names what was accepted.
 */
async function acceptCatalogue(io: CliIo, s: AdminTarget, o: { server: string; digest: string | undefined; json: boolean }): Promise<number> {
  let digest = o.digest;
  if (digest === undefined) {
    const cur = await adminCall(s, 'GET', path(o.server));
    if (cur.status !== 200) return failed(io, 'accept', cur);
    const pending = cur.json.pending as Json | null;
    if (!pending || typeof pending.set_hash !== 'string') {
      print(io.stderr, `accept failed: ${o.server} has no pending catalogue`);
      return 1;
    }
    digest = pending.set_hash;
  }
  const r = await adminCall(s, 'POST', `${path(o.server)}/accept`, { set_hash: digest });
  if (r.status !== 200) return failed(io, 'accept', r);
  if (o.json) printJson(io.stdout, r.json);
  else print(io.stdout, `${str(r.json.server)}: accepted catalogue ${str(r.json.set_hash)} (${(r.json.tools as string[]).join(', ')})`);
  return 0;
}

function failed(io: CliIo, what: string, r: { status: number; json: Json }): number {
  print(io.stderr, `${what} failed: ${adminErrorText(r)}`);
  return 1;
}
