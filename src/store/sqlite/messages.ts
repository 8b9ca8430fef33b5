import type { SQLOutputValue } from 'node:sqlite';
import { STALE_MESSAGE_REFS } from '../ports.ts';
import type { SqliteCore } from './core.ts';
import type { Migration } from './migrations.ts';

/**
 * Deduplicated request messages (src/audit/dedup.ts): each stored once per conversation scope. A scope's row dates
 * its newest exchange: retention removes a conversation's messages only once that date is before the cutoff, so a
 * message referenced by a retained exchange stays; each removed message leaves a tombstone (verification).
 */
export const DEDUP_MIGRATIONS: readonly Migration[] = [
  { id: 'dedup/001-messages', sql: `
  CREATE TABLE exchange_messages (scope TEXT NOT NULL, ref TEXT NOT NULL, sealed BLOB NOT NULL, PRIMARY KEY (scope, ref));
  CREATE TABLE exchange_message_scopes (scope TEXT PRIMARY KEY, last_at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX exchange_message_scopes_last ON exchange_message_scopes(last_at);
  CREATE TABLE exchange_message_tombstones (scope TEXT NOT NULL, ref TEXT NOT NULL, purged_at INTEGER NOT NULL, PRIMARY KEY (scope, ref)) WITHOUT ROWID;
  ` },
];

/** The message columns of a start row (rows.ts): scope, refs reused, refs added and their sealed bytes. */
export type StartMessageCols = [scope: string | null, reused: number, refs: string[], sealed: Uint8Array[]];

/** Inside the start's transaction: the conversation's date, then its new messages. */
export function startMessages(core: SqliteCore, at: number, [scope, reused, refs, sealed]: StartMessageCols): void {
  if (scope === null) return;
  const had = core.stmt('SELECT last_at FROM exchange_message_scopes WHERE scope = ?').get(scope);
  if (!had && reused > 0) throw new Error(`${STALE_MESSAGE_REFS}: conversation ${scope} has no stored messages`);
  if (!had) core.stmt('INSERT INTO exchange_message_scopes (scope, last_at) VALUES (?, ?)').run(scope, at);
  else if (Number(had.last_at) < at) core.stmt('UPDATE exchange_message_scopes SET last_at = ? WHERE scope = ?').run(at, scope);
  const insert = core.stmt('INSERT OR IGNORE INTO exchange_messages (scope, ref, sealed) VALUES (?, ?, ?)');
  for (let i = 0; i < refs.length; i++) insert.run(scope, refs[i]!, sealed[i]!);
}

const blob = (v: SQLOutputValue | undefined): Uint8Array | null => (v instanceof Uint8Array ? v : null);

export function messagesGet(core: SqliteCore, scope: string, refs: string[]): { ref: string; sealed: Uint8Array }[] {
  const get = core.stmt('SELECT sealed FROM exchange_messages WHERE scope = ? AND ref = ?');
  const out: { ref: string; sealed: Uint8Array }[] = [];
  for (const ref of refs) {
    const s = blob(get.get(scope, ref)?.sealed);
    if (s) out.push({ ref, sealed: s });
  }
  return out;
}

/**
 * Retention: conversations whose newest exchange started before `before` — none of their exchanges is retained,
 * and no exchange still in progress started before `before` either (it may reference them) — lose their messages,
 * each tombstoned with the run's date first. Returns how many were removed.
 */
export function purgeMessages(core: SqliteCore, before: number, now: number): number {
  const open = core.stmt(`SELECT min(started_at) AS m FROM exchanges WHERE status = 'in_progress'`).get();
  const cutoff = open?.m !== null && open?.m !== undefined ? Math.min(before, Number(open.m)) : before;
  core.stmt(`INSERT OR IGNORE INTO exchange_message_tombstones (scope, ref, purged_at)
    SELECT m.scope, m.ref, ? FROM exchange_messages m JOIN exchange_message_scopes s ON s.scope = m.scope WHERE s.last_at < ?`).run(now, cutoff);
  const n = Number(core.stmt('DELETE FROM exchange_messages WHERE scope IN (SELECT scope FROM exchange_message_scopes WHERE last_at < ?)').run(cutoff).changes);
  core.stmt('DELETE FROM exchange_message_scopes WHERE last_at < ?').run(cutoff);
  return n;
}

export interface StoredMessageDigest {
  scope: string;
  ref: string;
  sealed: Uint8Array | null;
  purgedAt: number | null;
}

export function storedMessages(core: SqliteCore, items: { scope: string; ref: string }[]): StoredMessageDigest[] {
  const get = core.stmt('SELECT sealed FROM exchange_messages WHERE scope = ? AND ref = ?');
  const tomb = core.stmt('SELECT purged_at FROM exchange_message_tombstones WHERE scope = ? AND ref = ?');
  return items.map(({ scope, ref }) => {
    const t = tomb.get(scope, ref);
    return { scope, ref, sealed: blob(get.get(scope, ref)?.sealed), purgedAt: t ? Number(t.purged_at) : null };
  });
}
