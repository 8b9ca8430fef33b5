import { parse } from '../context.ts';
import { adminTarget } from '../admin-target.ts';
import { print, printJson, UsageError, type CliIo } from '../io.ts';

export const IDENTITIES_USAGE = 'portcullis analytics identities [--limit N] [--gateway URL] [--key-file PATH] [--json]';

interface SeenClient { client: string; last_seen: string; requests: number }
interface SeenIdentity { subject: string; kind: string; name: string | null; groups: string[]; first_seen: string; last_seen: string; requests: number; clients: SeenClient[] }
interface SeenGroup { group: string; members: number; last_seen: string; requests: number; clients: string[] }
interface SeenAnswer { identities?: SeenIdentity[]; groups?: SeenGroup[]; truncated?: boolean; error?: { message?: string } }

/**
 * `portcullis analytics identities`: who the gateway has seen and the groups they make up, from a running gateway
 * (`GET /admin/v1/analytics/identities`, docs/analytics.md#identities-seen). Names and groups come from identity
 * providers and key records: every one is printed through io.ts, so a control character in one shows escaped.
 */
export async function runIdentities(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { limit: { type: 'string' }, gateway: { type: 'string' }, 'key-file': { type: 'string' }, json: { type: 'boolean' } });
  if (positionals.length > 0) throw new UsageError('unexpected arguments');
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
  const { gateway, token } = await adminTarget(io, { gateway: values.gateway, keyFile: values['key-file'] });
  const r = await fetch(new URL('/admin/v1/analytics/identities', gateway), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
  const body = (await r.json()) as SeenAnswer;
  if (r.status !== 200 || !body.identities || !body.groups) {
    print(io.stderr, `the gateway refused: ${r.status} ${body.error?.message ?? ''}`);
    return 1;
  }
  const identities = body.identities.slice(0, limit);
  const groups = body.groups.slice(0, limit);
  // The gateway reads at most its own number of rows (`truncated`); --limit shortens both lists further.
  const more = { identities: body.identities.length - identities.length, groups: body.groups.length - groups.length };
  if (values.json) {
    printJson(io.stdout, { identities, groups, truncated: Boolean(body.truncated) || more.identities > 0 || more.groups > 0 });
    return 0;
  }
  printIdentities(io.stdout, identities);
  print(io.stdout, '');
  printGroups(io.stdout, groups);
  if (more.identities > 0 || more.groups > 0 || body.truncated) print(io.stdout, `(more not shown: ${more.identities} identities, ${more.groups} groups${body.truncated ? '; the gateway read its most recent rows only' : ''})`);
  return 0;
}

const list = (xs: readonly string[]): string => (xs.length === 0 ? '-' : xs.join(','));

function printIdentities(out: NodeJS.WritableStream, rows: readonly SeenIdentity[]): void {
  if (rows.length === 0) {
    print(out, 'no identities seen');
    return;
  }
  print(out, `${'KIND'.padEnd(8)} ${'SUBJECT'.padEnd(28)} ${'NAME'.padEnd(24)} ${'GROUPS'.padEnd(24)} ${'FIRST SEEN'.padEnd(24)} ${'LAST SEEN'.padEnd(24)} ${'REQUESTS'.padStart(8)} CLIENT TOOLS`);
  for (const i of rows) {
    const tools = i.clients.map((c) => `${c.client}(${c.requests})`);
    print(out, `${i.kind.padEnd(8)} ${i.subject.padEnd(28)} ${(i.name ?? '-').padEnd(24)} ${list(i.groups).padEnd(24)} ${i.first_seen.padEnd(24)} ${i.last_seen.padEnd(24)} ${String(i.requests).padStart(8)} ${list(tools)}`);
  }
}

function printGroups(out: NodeJS.WritableStream, rows: readonly SeenGroup[]): void {
  if (rows.length === 0) {
    print(out, 'no groups seen');
    return;
  }
  print(out, `${'GROUP'.padEnd(28)} ${'MEMBERS'.padStart(7)} ${'LAST SEEN'.padEnd(24)} ${'REQUESTS'.padStart(8)} CLIENT TOOLS`);
  for (const g of rows) print(out, `${g.group.padEnd(28)} ${String(g.members).padStart(7)} ${g.last_seen.padEnd(24)} ${String(g.requests).padStart(8)} ${list(g.clients)}`);
}
