import { clientFamily } from './client-family.ts';
import type { RollupSource } from './types.ts';

/**
 * Who the gateway has seen (docs/analytics.md#identities-seen): per identity and client tool family, when it was
 * first and last seen, how many requests, and the identity's kind, name and groups as of its latest exchange.
 * Folded by the roller in the same transaction as the rollups, so a crash leaves both or neither.
 */
export interface SeenDelta {
  subject: string;
  client: string;
  kind: string;
  name: string | null;
  groups: string[];
  firstSeen: number;
  lastSeen: number;
  requests: number;
}

/** One row per (subject, client) of the batch, sorted by key (replicas then lock rows in the same order). */
export function foldSeen(rows: readonly RollupSource[]): SeenDelta[] {
  const out = new Map<string, SeenDelta>();
  for (const x of rows) {
    if (!x.subject) continue;
    const client = clientFamily(x.userAgent);
    const key = `${x.subject}\u0000${client}`;
    const d = out.get(key);
    if (!d) {
      out.set(key, { subject: x.subject, client, kind: x.kind ?? 'user', name: x.name, groups: [...new Set(x.groups)], firstSeen: x.startedAt, lastSeen: x.startedAt, requests: 1 });
      continue;
    }
    d.requests++;
    d.firstSeen = Math.min(d.firstSeen, x.startedAt);
    if (x.startedAt >= d.lastSeen) Object.assign(d, { lastSeen: x.startedAt, kind: x.kind ?? 'user', name: x.name, groups: [...new Set(x.groups)] });
  }
  return [...out.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, d]) => d);
}

/**
 * Migration analytics/003-seen. Kind, name and groups are those of the latest exchange (an upsert keeps them only
 * when its exchange is at least as late as the row's).
 */
export function seenTableSql(bigint: string): string {
  return `CREATE TABLE identities_seen (
    subject TEXT NOT NULL, client TEXT NOT NULL, kind TEXT NOT NULL, name TEXT, groups_json TEXT NOT NULL,
    first_seen ${bigint} NOT NULL, last_seen ${bigint} NOT NULL, requests ${bigint} NOT NULL,
    PRIMARY KEY (subject, client)
  )`;
}

export const SEEN_COLUMNS = ['subject', 'client', 'kind', 'name', 'groups_json', 'first_seen', 'last_seen', 'requests'];

export function seenValues(d: SeenDelta): (string | number | null)[] {
  return [d.subject, d.client, d.kind, d.name, JSON.stringify(d.groups), d.firstSeen, d.lastSeen, d.requests];
}

/** The upsert's SET list: `least`/`greatest` are min/max on SQLite and LEAST/GREATEST on PostgreSQL; `t` is the table. */
export function seenUpdateSql(t: string, least: string, greatest: string): string {
  const latest = (c: string) => `${c} = CASE WHEN excluded.last_seen >= ${t}.last_seen THEN excluded.${c} ELSE ${t}.${c} END`;
  return `requests = ${t}.requests + excluded.requests, first_seen = ${least}(${t}.first_seen, excluded.first_seen),
    last_seen = ${greatest}(${t}.last_seen, excluded.last_seen), ${latest('kind')}, ${latest('name')}, ${latest('groups_json')}`;
}

export function seenOfRow(r: Record<string, unknown>): SeenDelta {
  let groups: unknown = [];
  try { groups = JSON.parse(String(r.groups_json)); } catch { groups = []; }
  return {
    subject: String(r.subject), client: String(r.client), kind: String(r.kind), name: typeof r.name === 'string' ? r.name : null,
    groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : [],
    firstSeen: Number(r.first_seen), lastSeen: Number(r.last_seen), requests: Number(r.requests),
  };
}

/** One identity over all its client tools. */
export interface SeenIdentity extends Omit<SeenDelta, 'client'> {
  clients: { client: string; lastSeen: number; requests: number }[];
}

export interface SeenGroup {
  group: string;
  members: number;
  lastSeen: number;
  requests: number;
  clients: string[];
}

/**
 * Identities (latest first) and groups from the (subject, client) rows. A group's members are the identities whose
 * latest exchange carried it; its requests and tools are theirs while they carried it last — the groups of earlier
 * exchanges are not kept per exchange here (the usage rollups count requests by group exactly).
 */
export function summarizeSeen(rows: readonly SeenDelta[]): { identities: SeenIdentity[]; groups: SeenGroup[] } {
  const byId = new Map<string, SeenIdentity>();
  for (const r of [...rows].sort((a, b) => a.lastSeen - b.lastSeen)) {
    let i = byId.get(r.subject);
    if (!i) byId.set(r.subject, (i = { subject: r.subject, kind: r.kind, name: r.name, groups: r.groups, firstSeen: r.firstSeen, lastSeen: r.lastSeen, requests: 0, clients: [] }));
    Object.assign(i, { kind: r.kind, name: r.name, groups: r.groups, lastSeen: r.lastSeen });
    i.firstSeen = Math.min(i.firstSeen, r.firstSeen);
    i.requests += r.requests;
    i.clients.push({ client: r.client, lastSeen: r.lastSeen, requests: r.requests });
  }
  const identities = [...byId.values()].sort((a, b) => b.lastSeen - a.lastSeen || (a.subject < b.subject ? -1 : 1));
  for (const i of identities) i.clients.sort((a, b) => b.lastSeen - a.lastSeen);
  const groups = new Map<string, SeenGroup & { tools: Set<string> }>();
  for (const i of identities) {
    for (const g of i.groups) {
      let s = groups.get(g);
      if (!s) groups.set(g, (s = { group: g, members: 0, lastSeen: 0, requests: 0, clients: [], tools: new Set() }));
      s.members++;
      s.lastSeen = Math.max(s.lastSeen, i.lastSeen);
      s.requests += i.requests;
      for (const c of i.clients) s.tools.add(c.client);
    }
  }
  return {
    identities,
    groups: [...groups.values()].sort((a, b) => b.lastSeen - a.lastSeen || (a.group < b.group ? -1 : 1)).map(({ tools, ...g }) => ({ ...g, clients: [...tools].sort() })),
  };
}
