import { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync } from 'node:sqlite';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { SQLITE_MIGRATIONS } from './migrations.ts';
import type {
  ApiKeyRecord,
  ExchangeBodies,
  ExchangeFilter,
  ExchangeRow,
} from '../ports.ts';
import { START_COLUMNS, type FinishRow, type StartRow } from './rows.ts';
import { messagesGet, startMessages, type StartMessageCols } from './messages.ts';

/**
 * Synchronous SQLite implementation (node:sqlite). It runs inside the store worker thread (worker.ts) so its
 * blocking calls never touch the gateway's event loop; the worker batches calls into one transaction per turn
 * (group commit).
 */
type Row = Record<string, SQLOutputValue>;

export interface SqliteOptions {
  path: string;
  synchronous: 'normal' | 'full';
}

/** Log size at which the writer checkpoints by itself (a backstop: the checkpointer thread normally does it). */
export const WRITER_CHECKPOINT_PAGES = 4000;

export class SqliteCore {
  readonly db: DatabaseSync;
  readonly #stmts = new Map<string, StatementSync>();

  constructor(opts: SqliteOptions) {
    if (opts.path !== ':memory:') ownerOnlyFiles(opts.path);
    this.db = new DatabaseSync(opts.path);
    // WAL: readers never block the writer; NORMAL: a commit survives a process crash (fsync at checkpoint);
    // FULL adds an fsync per commit for power-loss durability. https://sqlite.org/wal.html
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${opts.synchronous.toUpperCase()};
      PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;`);
    // Checkpoints are the checkpointer thread's job (checkpointer.ts); the writer's own, which stall it, only past
    // this many pages (16 MB at 4 KB pages), should that thread fall behind.
    if (opts.path !== ':memory:') this.db.exec(`PRAGMA wal_autocheckpoint = ${WRITER_CHECKPOINT_PAGES}`);
    this.migrate();
  }

  migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
    const applied = new Set((this.db.prepare('SELECT id FROM schema_migrations').all() as { id: string }[]).map((r) => r.id));
    for (const m of SQLITE_MIGRATIONS) {
      if (applied.has(m.id)) continue;
      this.db.exec('BEGIN IMMEDIATE');
      try {
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)').run(m.id, Date.now());
        this.db.exec('COMMIT');
      } catch (err) {
        this.db.exec('ROLLBACK');
        throw err;
      }
    }
  }

  /** Extension repos registered by other modules (see extensions.ts); looked up by the worker by name. */
  readonly ext: Record<string, (...args: never[]) => unknown> = {};

  stmt(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  ping(): number {
    return 1;
  }

  // --- api keys -------------------------------------------------------------------------------------------
  apiKeysCreate(r: ApiKeyRecord): void {
    this.stmt(
      `INSERT INTO api_keys (id, hash, subject, kind, display_name, groups_json, created_at, created_by, expires_at, revoked_at, description)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(r.id, r.hash, r.subject, r.kind, r.displayName, JSON.stringify(r.groups), r.createdAt, r.createdBy, r.expiresAt, r.revokedAt, r.description);
  }

  apiKeysGet(id: string): ApiKeyRecord | undefined {
    const row = this.stmt('SELECT * FROM api_keys WHERE id = ?').get(id);
    return row ? toApiKey(row) : undefined;
  }

  apiKeysList(): ApiKeyRecord[] {
    return (this.stmt('SELECT * FROM api_keys ORDER BY created_at').all() as Row[]).map(toApiKey);
  }

  apiKeysRevoke(id: string, at: number): boolean {
    return this.stmt('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes === 1;
  }

  apiKeysCount(): number {
    return (this.stmt('SELECT count(*) AS n FROM api_keys').get() as { n: number }).n;
  }

  // --- exchanges ------------------------------------------------------------------------------------------
  // Start and finish arrive as column values (startRow/finishRow, computed on the main thread): a flat array of
  // strings, numbers and the sealed bytes crosses to the worker for less than the nested record would.
  exchangesStart(row: StartRow): void {
    startMessages(this, row[1], row.slice(START_COLUMNS) as StartMessageCols);
    this.stmt(
      `INSERT INTO exchanges (id, started_at, subject, principal_json, endpoint, method, path, model, provider, upstream_model,
         stream, client_ip, user_agent, decision_json, findings_json, status, client_request, upstream_request, owner, client_tool)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'in_progress', ?, ?, ?, ?)`,
    ).run(...(row.slice(0, START_COLUMNS) as SQLInputValue[]));
  }

  exchangesAppendSegment(id: string, seq: number, sealed: Uint8Array): void {
    // Only while the exchange is in progress: an ended exchange's chained end covers the segments it had.
    const res = this.stmt(`INSERT INTO exchange_segments (exchange_id, seq, sealed) SELECT id, ?, ? FROM exchanges WHERE id = ? AND status = 'in_progress'`).run(seq, sealed, id);
    if (res.changes !== 1) throw new Error(`exchange ${id} is not in progress`);
  }

  exchangesFinish(row: FinishRow): void {
    if (!this.exchangesInterrupt(row)) throw new Error(`exchange ${row[10]} is not in progress`);
  }

  exchangesInterrupt(row: FinishRow): boolean {
    return this.stmt(
      `UPDATE exchanges SET status = ?, http_status = ?, error_code = ?, finished_at = ?, timings_json = ?, usage_json = ?,
         event_count = ?, response_findings_json = ?, response = ?, forwarded = ? WHERE id = ? AND status = 'in_progress'`,
    ).run(...row).changes === 1;
  }

  exchangesRecordRejected(start: StartRow, finish: FinishRow): void {
    this.exchangesStart(start);
    this.exchangesFinish(finish);
  }

  exchangesGet(id: string): ExchangeRow | undefined {
    const row = this.stmt(`SELECT ${META_COLUMNS} FROM exchanges WHERE id = ?`).get(id);
    return row ? toExchange(row) : undefined;
  }

  exchangesBodies(id: string): ExchangeBodies | undefined {
    const b = this.stmt('SELECT client_request, upstream_request, response FROM exchanges WHERE id = ?').get(id);
    if (!b) return undefined;
    const segs = this.stmt('SELECT seq, sealed FROM exchange_segments WHERE exchange_id = ? ORDER BY seq').all(id) as Row[];
    return {
      clientRequest: blob(b.client_request),
      upstreamRequest: blob(b.upstream_request),
      response: blob(b.response),
      segments: segs.map((s) => ({ seq: Number(s.seq), sealed: blob(s.sealed)! })),
    };
  }

  exchangesMessages(scope: string, refs: string[]): { ref: string; sealed: Uint8Array }[] {
    return messagesGet(this, scope, refs);
  }

  exchangesList(f: ExchangeFilter): ExchangeRow[] {
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    const add = (clause: string, v: SQLInputValue): void => {
      where.push(clause);
      for (let i = clause.indexOf('?'); i >= 0; i = clause.indexOf('?', i + 1)) args.push(v);
    };
    if (f.subject) add('subject = ?', f.subject);
    if (f.model) add('model = ?', f.model);
    if (typeof f.status === 'string') add('status = ?', f.status);
    else if (f.status?.length) add('status IN (SELECT value FROM json_each(?))', JSON.stringify(f.status));
    if (f.group !== undefined) add(`EXISTS (SELECT 1 FROM json_each(principal_json, '$.groups') WHERE value = ?)`, f.group);
    if (f.clientTool !== undefined) add('client_tool = ?', f.clientTool);
    if (f.findingType !== undefined) {
      add(`(EXISTS (SELECT 1 FROM json_each(findings_json) WHERE json_extract(value, '$.type') = ?)
        OR EXISTS (SELECT 1 FROM json_each(response_findings_json) WHERE json_extract(value, '$.type') = ?))`, f.findingType);
    }
    if (f.errorCode) add('error_code = ?', f.errorCode);
    if (f.since !== undefined) add('started_at >= ?', f.since);
    if (f.until !== undefined) add('started_at < ?', f.until);
    if (f.before) add('id < ?', f.before);
    const limit = Math.min(Math.max(f.limit ?? 50, 1), 1000);
    const sql = `SELECT ${META_COLUMNS} FROM exchanges ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ${limit}`;
    return (this.db.prepare(sql).all(...args) as Row[]).map(toExchange);
  }

  // --- token vault ----------------------------------------------------------------------------------------
  tokenVaultGet(conversation: string, now: number): { placeholder: string; valueMac: string; sealed: Buffer }[] {
    return this.stmt('SELECT placeholder, value_mac, sealed FROM token_vault WHERE conversation = ? AND expires_at > ?')
      .all(conversation, now)
      .map((r) => ({ placeholder: str(r.placeholder), valueMac: str(r.value_mac), sealed: blob(r.sealed)! }));
  }

  tokenVaultPut(conversation: string, rows: { placeholder: string; valueMac: string; sealed: Uint8Array }[], expiresAt: number, refreshBelow = expiresAt): string[] {
    const conflicts: string[] = [];
    const existing = this.stmt('SELECT value_mac FROM token_vault WHERE conversation = ? AND placeholder = ?');
    const insert = this.stmt('INSERT INTO token_vault (conversation, placeholder, value_mac, sealed, expires_at) VALUES (?, ?, ?, ?, ?)');
    for (const r of rows) {
      const prior = existing.get(conversation, r.placeholder);
      if (prior) {
        if (str(prior.value_mac) !== r.valueMac) conflicts.push(r.placeholder);
        continue;
      }
      insert.run(conversation, r.placeholder, r.valueMac, r.sealed, expiresAt);
    }
    if (conflicts.length > 0) throw new Error(`token vault conflict: ${conflicts.length} placeholder(s) already mapped`);
    this.stmt('UPDATE token_vault SET expires_at = ? WHERE conversation = ? AND expires_at < ?').run(expiresAt, conversation, refreshBelow);
    return conflicts;
  }

  tokenVaultPurgeExpired(now: number): number {
    return Number(this.stmt('DELETE FROM token_vault WHERE expires_at <= ?').run(now).changes);
  }

  // --- provider credentials -------------------------------------------------------------------------------
  credentialsPut(provider: string, sealed: Uint8Array, at: number, by: string): void {
    this.stmt(
      `INSERT INTO provider_credentials (provider, sealed, updated_at, updated_by) VALUES (?, ?, ?, ?)
       ON CONFLICT(provider) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
    ).run(provider, sealed, at, by);
  }

  credentialsGet(provider: string): { sealed: Buffer; updatedAt: number } | undefined {
    const row = this.stmt('SELECT sealed, updated_at FROM provider_credentials WHERE provider = ?').get(provider);
    return row ? { sealed: blob(row.sealed)!, updatedAt: Number(row.updated_at) } : undefined;
  }

  credentialsList(): { provider: string; updatedAt: number; updatedBy: string }[] {
    return (this.stmt('SELECT provider, updated_at, updated_by FROM provider_credentials ORDER BY provider').all() as Row[]).map((r) => ({
      provider: str(r.provider),
      updatedAt: Number(r.updated_at),
      updatedBy: str(r.updated_by),
    }));
  }
}

/** Every exchange column but the sealed bodies (listing never reads bodies). */
export const META_COLUMNS = `id, started_at, subject, principal_json, endpoint, method, path, model, provider, upstream_model, stream,
  client_ip, user_agent, decision_json, findings_json, status, http_status, error_code, finished_at, timings_json, usage_json,
  event_count, response_findings_json, forwarded, owner`;

function str(v: SQLOutputValue | undefined): string {
  return typeof v === 'string' ? v : v === null || v === undefined ? '' : typeof v === 'number' || typeof v === 'bigint' ? v.toString() : Buffer.from(v).toString('utf8');
}

function strOrNull(v: SQLOutputValue | undefined): string | null {
  return v === null || v === undefined ? null : str(v);
}

function parse<T>(v: SQLOutputValue | undefined): T | null {
  return typeof v === 'string' ? (JSON.parse(v) as T) : null;
}

function blob(v: SQLOutputValue | undefined): Buffer | null {
  return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : null;
}

function numOrNull(v: SQLOutputValue | undefined): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function toApiKey(r: Row): ApiKeyRecord {
  return {
    id: str(r.id),
    hash: str(r.hash),
    subject: str(r.subject),
    kind: str(r.kind) as ApiKeyRecord['kind'],
    displayName: str(r.display_name),
    groups: parse<string[]>(r.groups_json) ?? [],
    createdAt: Number(r.created_at),
    createdBy: str(r.created_by),
    expiresAt: numOrNull(r.expires_at),
    revokedAt: numOrNull(r.revoked_at),
    description: strOrNull(r.description),
  };
}

export function toExchange(r: Row): ExchangeRow {
  return {
    id: str(r.id),
    startedAt: Number(r.started_at),
    subject: strOrNull(r.subject),
    principal: parse(r.principal_json),
    endpoint: str(r.endpoint),
    method: str(r.method),
    path: str(r.path),
    model: strOrNull(r.model),
    provider: strOrNull(r.provider),
    upstreamModel: strOrNull(r.upstream_model),
    stream: r.stream === 1,
    clientIp: strOrNull(r.client_ip),
    userAgent: strOrNull(r.user_agent),
    decision: parse(r.decision_json),
    findings: parse(r.findings_json) ?? [],
    status: str(r.status) as ExchangeRow['status'],
    httpStatus: numOrNull(r.http_status) ?? undefined,
    errorCode: strOrNull(r.error_code),
    finishedAt: numOrNull(r.finished_at) ?? undefined,
    timings: parse(r.timings_json) ?? undefined,
    usage: parse(r.usage_json) ?? undefined,
    eventCount: numOrNull(r.event_count) ?? undefined,
    responseFindings: parse(r.response_findings_json) ?? undefined,
    forwarded: r.forwarded === null || r.forwarded === undefined ? null : r.forwarded === 1,
    owner: strOrNull(r.owner),
  };
}

/**
 * The database holds sealed bodies, key hashes and the audit trail: only its owner reads it, like the master key.
 * SQLite creates the `-wal` and `-shm` files with the permissions of the database file (unix VFS,
 * robust_open/findCreateFileMode), so the database file is created 0600 before SQLite opens it; an existing
 * database, log or shared-memory file with a looser mode is tightened to 0600 (docs/configuration.md#store).
 * A directory the gateway creates is 0700; an existing directory is left as the operator made it.
 */
function ownerOnlyFiles(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600));
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
