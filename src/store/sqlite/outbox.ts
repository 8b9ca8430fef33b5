import type { SQLOutputValue } from 'node:sqlite';
import type { OutboxEvent, OutboxRepo, SinkBacklog, StoredEvent } from '../../events/repo.ts';
import type { SqliteCore } from './core.ts';
import type { SqliteStore } from './index.ts';
import type { Migration } from './migrations.ts';

/**
 * SQLite event outbox (runs in the store worker). `pos` is an AUTOINCREMENT rowid: never reused, so a cursor
 * can never point at a different event after a prune (https://sqlite.org/autoinc.html).
 */
export const OUTBOX_MIGRATIONS: readonly Migration[] = [
  { id: 'events/001-outbox', sql: `
  CREATE TABLE event_outbox (pos INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, at INTEGER NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL);
  CREATE TABLE event_cursors (sink TEXT PRIMARY KEY, pos INTEGER NOT NULL, updated_at INTEGER NOT NULL, lease_owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0);
  ` },
];

const num = (v: SQLOutputValue | undefined): number => (v === null || v === undefined ? 0 : Number(v));

function size(core: SqliteCore): number {
  // Pruning only ever removes a prefix, so max - min + 1 is the row count, read from the rowid b-tree in O(log n)
  // (count(*) would scan the table on every enqueue).
  const r = core.stmt('SELECT max(pos) AS hi, min(pos) AS lo FROM event_outbox').get();
  return r?.hi === null || r?.hi === undefined ? 0 : num(r.hi) - num(r.lo) + 1;
}

function enqueue(core: SqliteCore, events: OutboxEvent[], maxBacklog: number | null): void {
  if (maxBacklog !== null && size(core) + events.length > maxBacklog) throw new Error('outbox full');
  const ins = core.stmt('INSERT OR IGNORE INTO event_outbox (id, at, type, body) VALUES (?, ?, ?, ?)');
  for (const e of events) ins.run(e.id, e.at, e.type, e.body);
}

function cursor(core: SqliteCore, sink: string, now: number): { pos: number; owner: string | null; until: number } {
  core.stmt('INSERT OR IGNORE INTO event_cursors (sink, pos, updated_at) VALUES (?, 0, ?)').run(sink, now);
  const r = core.stmt('SELECT pos, lease_owner, lease_until FROM event_cursors WHERE sink = ?').get(sink);
  return { pos: num(r?.pos), owner: typeof r?.lease_owner === 'string' ? r.lease_owner : null, until: num(r?.lease_until) };
}

function fetch(core: SqliteCore, o: { sink: string; owner: string; leaseMs: number; now: number; limit: number }): StoredEvent[] | null {
  const c = cursor(core, o.sink, o.now);
  if (c.owner !== null && c.owner !== o.owner && c.until > o.now) return null;
  core.stmt('UPDATE event_cursors SET lease_owner = ?, lease_until = ?, updated_at = ? WHERE sink = ?').run(o.owner, o.now + o.leaseMs, o.now, o.sink);
  return core.stmt('SELECT pos, id, at, type, body FROM event_outbox WHERE pos > ? ORDER BY pos LIMIT ?').all(c.pos, o.limit)
    .map((r) => ({ pos: num(r.pos), id: String(r.id), at: num(r.at), type: String(r.type), body: String(r.body) }));
}

function backlog(core: SqliteCore, sinks: string[]): SinkBacklog[] {
  return sinks.map((sink) => {
    const c = core.stmt('SELECT pos FROM event_cursors WHERE sink = ?').get(sink);
    const pos = num(c?.pos);
    const r = core.stmt('SELECT count(*) AS n, min(at) AS oldest FROM event_outbox WHERE pos > ?').get(pos);
    return { sink, cursor: pos, backlog: num(r?.n), oldestAt: r?.oldest === null || r?.oldest === undefined ? null : Number(r.oldest) };
  });
}

function prune(core: SqliteCore, sinks: string[], activeSince: number): number {
  if (sinks.length === 0) return 0;
  let min = Number.MAX_SAFE_INTEGER;
  for (const sink of sinks) min = Math.min(min, num(core.stmt('SELECT pos FROM event_cursors WHERE sink = ?').get(sink)?.pos));
  const others = core.stmt('SELECT min(pos) AS m FROM event_cursors WHERE updated_at >= ?').get(activeSince)?.m;
  if (others !== null && others !== undefined) min = Math.min(min, num(others));
  return Number(core.stmt('DELETE FROM event_outbox WHERE pos <= ?').run(min).changes);
}

export function outboxSqlite(core: SqliteCore): Record<string, (...args: never[]) => unknown> {
  return {
    'outbox.enqueue': (events: OutboxEvent[], maxBacklog: number | null) => enqueue(core, events, maxBacklog),
    'outbox.fetch': (o: { sink: string; owner: string; leaseMs: number; now: number; limit: number }) => fetch(core, o),
    'outbox.ack': (sink: string, pos: number, now: number) =>
      void core.stmt('UPDATE event_cursors SET pos = max(pos, ?), updated_at = ? WHERE sink = ?').run(pos, now, sink),
    'outbox.backlog': (sinks: string[]) => backlog(core, sinks),
    'outbox.prune': (sinks: string[], activeSince: number) => prune(core, sinks, activeSince),
    'outbox.size': () => size(core),
  };
}

export function sqliteOutboxRepo(store: SqliteStore): OutboxRepo {
  return {
    enqueue: (events, max) => store.callExt('outbox.enqueue', events, max),
    fetch: (o) => store.callExt('outbox.fetch', o),
    ack: (sink, pos, now) => store.callExt('outbox.ack', sink, pos, now),
    backlog: (sinks) => store.callExt('outbox.backlog', sinks),
    prune: (sinks, activeSince) => store.callExt('outbox.prune', sinks, activeSince),
    size: () => store.callExt('outbox.size'),
  };
}
