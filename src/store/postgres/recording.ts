import { canonicalJson, entryMessage, GENESIS_HASH, sha256Hex } from '../../audit/chain.ts';
import type { AppendedEntry, AppendInput, BodyDigests, SessionAssign } from '../../audit/repo.ts';
import type { CounterIncrement } from '../../policy/budgets/counters.ts';
import { clientFamily } from '../../analytics/client-family.ts';
import type { ExchangeFinish, ExchangeStart } from '../ports.ts';
import { startWithMessages } from './messages.ts';
import { addCounters } from './budgets.ts';
import { groupCommit, type Outcome } from './group-commit.ts';
import { isUnavailable } from './unavailable.ts';

/**
 * The recording writes of one replica on PostgreSQL, group-committed across exchanges: exchange starts and ends,
 * audit chain appends, session assignments and budget counter increments that arrive while one transaction is in
 * flight go out together in the next (group-commit.ts), as a handful of multi-row statements:
 *
 *   BEGIN; [writers' advisory locks, sorted; chain heads]; INSERT exchanges (all starts); UPDATE exchanges (all
 *   ends); [SELECT the appended exchanges' status]; INSERT audit_entries (all appends);
 *   SELECT portcullis_assign_sessions(…) after the identities' advisory locks (all session assignments);
 *   INSERT … ON CONFLICT budget_counters (all increments); COMMIT
 *
 * The locks other replicas' batches contend for come last, so each is held from its statement to the COMMIT only:
 * an identity's session lock (every replica's ends of one user's exchanges), then the budget counter rows (every
 * request of one user). A holder of counter rows waits for nothing but its COMMIT, and a holder of session locks
 * only for counter rows: no cycle, no deadlock.
 *
 * A batch with a single statement skips BEGIN/COMMIT. Every guarantee of the one-call-per-transaction path holds:
 * a call resolves once its transaction committed (a start is durable before the request goes upstream); a failed
 * transaction rejects its calls (group-commit.ts); entries of a writer are chained in call order and (writer, seq)
 * stays the primary key, so a chain never forks; each increment still sees the counter value of its place in a
 * serial order (budgets.ts). Steps run in this order, and every call was made after the writes it depends on had
 * resolved (the recorder awaits the start before anything is chained), so grouping by kind never reorders a
 * dependency: an append sees the start or end it is about whether that was written in an earlier batch or earlier
 * in this one.
 */
export type RecordingOp =
  | { kind: 'start'; start: ExchangeStart; rejected?: ExchangeFinish }
  | { kind: 'end'; finish: ExchangeFinish }
  | { kind: 'append'; writer: string; input: AppendInput }
  | { kind: 'session'; assign: SessionAssign }
  | { kind: 'count'; incs: CounterIncrement[]; forExchange?: string | undefined };

type Row = Record<string, unknown>;
interface Db {
  query(sql: string, args: unknown[]): Promise<{ rows: Row[]; rowCount: number | null }>;
}
export interface RecordingDb extends Db {
  /** (query: one statement on the pool, autocommit.) */
  /** BEGIN … COMMIT on one connection. */
  transaction<T>(fn: (c: Db) => Promise<T>): Promise<T>;
}

/**
 * Rounds a batch gets when its chain entries collide with another appender of the same writer. Every collision
 * means the other appender's entry committed (the chain progressed); a batch reading the head under the lock loses
 * again only while another process still appends from its cache without the lock, which it stops doing at its own
 * first collision — so losing many rounds in a row is rare, and this bound is far above it.
 */
const MAX_COLLISION_RETRIES = 100;

/** Most calls in one transaction: bounds statement parameters (18 per start, 65,535 at most) and lock hold time. */
const MAX_BATCH = 256;
/** Refused ends remembered for their queued chain entries (oldest dropped first): far more than calls in flight. */
const MAX_REFUSED_ENDS = 10_000;

export class PostgresRecording {
  readonly #db: RecordingDb;
  /**
   * The last committed (seq, hash) of each chain this process appended to. An append computes its entry from it
   * without reading the head; if another process appended as the same writer meanwhile, the insert collides on the
   * (writer, seq) primary key, the batch fails and is retried, and the cache is dropped (the retry reads the head
   * under the writer's advisory lock). A stale head can therefore never fork a chain.
   */
  readonly #heads = new Map<string, { seq: number; hash: string }>();
  /**
   * Writers another process (or another gateway in this process) also appends as — a shared `audit.writer_id`
   * across replicas, or in-process test gateways. Once a cached head has collided, that writer's head is never
   * cached again: every append reads it under the writer's advisory lock, so the two appenders take turns instead
   * of colliding again and again.
   */
  readonly #shared = new Set<string>();
  readonly #submit: (op: RecordingOp) => Promise<unknown>;
  /**
   * Exchanges whose end, made by this process, found them already ended (another replica recovered them). The
   * recorder issues an end and its chain entry together (PostgresStore.appliesCallsMadeTogetherInOrder), so the
   * entry may already be queued when the end fails: it must then fail too, or the exchange would be chained as
   * ended twice (once by the recovering replica). Consulted and cleared by that entry; bounded.
   */
  readonly #refusedEnds = new Set<string>();
  /**
   * The same refused ends, for the budget usage queued with them (count's `forExchange`): the usage of a finish
   * that is not recorded is not counted either, so the counters follow the record. Consulted and cleared; bounded.
   */
  readonly #uncountedEnds = new Set<string>();

  constructor(db: RecordingDb) {
    this.#db = db;
    this.#submit = groupCommit<RecordingOp, unknown>((ops) => this.#run(ops), { maxBatch: MAX_BATCH, isUnavailable });
  }

  async start(start: ExchangeStart): Promise<void> {
    await this.#submit({ kind: 'start', start });
  }

  /** A start and its end in the same transaction (a request refused before it went upstream). */
  async recordRejected(start: ExchangeStart, finish: ExchangeFinish): Promise<void> {
    await this.#submit({ kind: 'start', start, rejected: finish });
  }

  /** Ends an exchange still in progress; false when it was not (already ended, or never started). */
  end(finish: ExchangeFinish): Promise<boolean> {
    return this.#submit({ kind: 'end', finish }) as Promise<boolean>;
  }

  append(writer: string, input: AppendInput): Promise<AppendedEntry> {
    return this.#submit({ kind: 'append', writer, input }) as Promise<AppendedEntry>;
  }

  assignSession(assign: SessionAssign): Promise<string> {
    return this.#submit({ kind: 'session', assign }) as Promise<string>;
  }

  /** `forExchange`: that exchange's usage, made together with its end — refused if the end is (see #uncountedEnds). */
  count(incs: CounterIncrement[], forExchange?: string): Promise<number[]> {
    return this.#submit({ kind: 'count', incs, forExchange }) as Promise<number[]>;
  }

  async #run(ops: RecordingOp[], attempt = 0): Promise<Outcome<unknown>[]> {
    const plan = planOf(ops, this.#heads);
    try {
      if (plan.statements === 1) return await this.#apply(this.#db, ops, plan);
      return await this.#db.transaction((c) => this.#apply(c, ops, plan));
    } catch (err) {
      // What this batch computed from a cached head was not committed; the next one reads the heads again.
      for (const w of plan.writers) this.#heads.delete(w);
      // Another process appended as one of these writers since the heads were cached: once more, reading them.
      // A process still caching a head can beat one that reads it under the lock, possibly several times in a row.
      if (attempt < MAX_COLLISION_RETRIES && isChainCollision(err)) {
        for (const w of plan.writers) this.#shared.add(w);
        return this.#run(ops, attempt + 1);
      }
      throw err;
    }
  }

  /** False (and the call failed) when the count is the usage of a finish this process's end could not record. */
  #counts(op: Extract<RecordingOp, { kind: 'count' }>, out: Outcome<unknown>[], i: number): boolean {
    if (op.forExchange === undefined || !this.#uncountedEnds.delete(op.forExchange)) return true;
    out[i] = { ok: false, error: new Error(`exchange ${op.forExchange} was ended by another writer: the usage of this finish is not counted`) };
    return false;
  }

  async #apply(c: Db, ops: RecordingOp[], plan: Plan): Promise<Outcome<unknown>[]> {
    const out: Outcome<unknown>[] = ops.map(() => ({ ok: true, value: undefined }));
    if (plan.writerLocks.length > 0) await c.query(`SELECT ${LOCK_SORTED} AS n`, [plan.writerLocks]);
    const heads = new Map(plan.cachedHeads);
    if (plan.readHeads.length > 0) {
      const r = await c.query(`SELECT h.writer, h.seq, h.hash FROM unnest($1::text[]) AS w(writer)
        CROSS JOIN LATERAL (SELECT writer, seq, hash FROM audit_entries e WHERE e.writer = w.writer ORDER BY seq DESC LIMIT 1) h`, [plan.readHeads]);
      for (const row of r.rows) heads.set(String(row.writer), { seq: Number(row.seq), hash: String(row.hash) });
    }
    await insertStarts(c, ops);
    for (const id of await applyEnds(c, ops, out)) {
      remember(this.#refusedEnds, id);
      remember(this.#uncountedEnds, id);
    }
    const newHeads = await appendEntries(c, ops, out, heads, this.#refusedEnds);
    // Last but one, with its locks in the same statement: the identities' session locks are held from here to the
    // COMMIT only (docs/benchmark.md, "Stop 20": taken at BEGIN, they serialised the replicas' whole batches).
    const sessions = ops.flatMap((op, i) => (op.kind === 'session' ? [{ i, a: op.assign }] : []));
    if (sessions.length > 0) {
      const ids = await assignSessions(c, sessions.map((x) => x.a), plan.sessionLocks);
      sessions.forEach((x, k) => (out[x.i] = { ok: true, value: ids[k] }));
    }
    const counts = ops.flatMap((op, i) => (op.kind === 'count' && this.#counts(op, out, i) ? [{ i, incs: op.incs }] : []));
    if (counts.length > 0) {
      const values = await addCounters((sql, args) => c.query(sql, args ?? []), counts.map((x) => x.incs));
      counts.forEach((x, k) => (out[x.i] = { ok: true, value: values[k] }));
    }
    // Committed by the caller right after; a failed commit drops these again (#run's catch).
    for (const [w, h] of newHeads) if (!this.#shared.has(w)) this.#heads.set(w, h);
    return out;
  }
}

/** Adds to a bounded set of refused ends (the oldest dropped first). */
function remember(set: Set<string>, id: string): void {
  set.add(id);
  if (set.size > MAX_REFUSED_ENDS) set.delete(set.values().next().value!);
}

interface Plan {
  statements: number;
  /** Advisory locks of writers whose heads are read (taken first: the read needs them). */
  writerLocks: string[];
  /** Advisory locks of the identities whose sessions are assigned (taken by the session statement itself). */
  sessionLocks: string[];
  writers: string[];
  readHeads: string[];
  cachedHeads: Map<string, { seq: number; hash: string }>;
}

/** Which locks and heads a batch needs, and how many statements it will send (1: no BEGIN/COMMIT needed). */
function planOf(ops: RecordingOp[], cache: ReadonlyMap<string, { seq: number; hash: string }>): Plan {
  const writers = [...new Set(ops.flatMap((o) => (o.kind === 'append' ? [o.writer] : [])))];
  const readHeads = writers.filter((w) => !cache.has(w));
  const cachedHeads = new Map(writers.filter((w) => cache.has(w)).map((w) => [w, cache.get(w)!]));
  const sessions = ops.filter((o) => o.kind === 'session');
  // Session assignments of one identity are serialised across replicas (two replicas never open two sessions for
  // one conversation); a writer's lock is needed only to read its head, which the cache spares.
  const sessionLocks = [...new Set(sessions.map((o) => `portcullis-session:${o.assign.subject ?? ''}`))].sort();
  const writerLocks = [...new Set(readHeads.map((w) => `portcullis-audit:${w}`))].sort();
  const has = (k: RecordingOp['kind']): number => (ops.some((o) => o.kind === k) ? 1 : 0);
  const deduplicated = ops.filter((o) => o.kind === 'start' && o.start.messages).length;
  const wholeStarts = ops.some((o) => o.kind === 'start' && !o.start.messages) ? 1 : 0;
  const ends = has('end') || ops.some((o) => o.kind === 'start' && o.rejected) ? 1 : 0;
  const appendSteps = has('append') ? (ops.some((o) => o.kind === 'append' && o.input.digestBodies) ? 2 : 1) : 0;
  const statements = (writerLocks.length > 0 ? 1 : 0) + (readHeads.length > 0 ? 1 : 0) + wholeStarts + deduplicated + ends + appendSteps + has('session') + has('count');
  return { statements, writerLocks, sessionLocks, writers, readHeads, cachedHeads };
}

const startValues = (r: ExchangeStart): unknown[] => [r.id, r.startedAt, r.subject, json(r.principal), r.endpoint, r.method, r.path, r.model, r.provider,
  r.upstreamModel, r.stream, r.clientIp, r.userAgent, json(r.decision), JSON.stringify(r.findings), r.clientRequest, r.upstreamRequest, r.owner ?? null,
  clientFamily(r.userAgent)];

/**
 * The batch's starts: those with whole bodies in one multi-row INSERT; each one recorded as deduplicated messages
 * (docs/audit.md, "Deduplicated request bodies") in its own statement, which also stores its new messages and fails
 * alone (stale refs) when its conversation's messages were purged meanwhile — the batch is then retried call by call.
 */
async function insertStarts(c: Db, ops: RecordingOp[]): Promise<void> {
  const all = ops.flatMap((o) => (o.kind === 'start' ? [o.start] : []));
  for (const r of all) if (r.messages) await startWithMessages(c, startValues(r), r);
  const starts = all.filter((r) => !r.messages);
  if (starts.length === 0) return;
  const args: unknown[] = [];
  const rows = starts.map((r) => {
    const base = args.length;
    args.push(...startValues(r));
    const p = (k: number): string => `$${base + k}`;
    return `(${[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15].map(p).join(', ')}, 'in_progress', ${p(16)}, ${p(17)}, ${p(18)}, ${p(19)})`;
  });
  await c.query(
    `INSERT INTO exchanges (id, started_at, subject, principal_json, endpoint, method, path, model, provider, upstream_model, stream,
       client_ip, user_agent, decision_json, findings_json, status, client_request, upstream_request, owner, client_tool)
     VALUES ${rows.join(', ')}`, args);
}

/**
 * Every end of the batch in one UPDATE … FROM (VALUES …), each only while its exchange is in progress (another
 * replica may have recovered it). An exchange ended twice in one batch (never by the recorder) takes two rounds:
 * one UPDATE changes a row once.
 */
async function applyEnds(c: Db, ops: RecordingOp[], out: Outcome<unknown>[]): Promise<string[]> {
  const refused: string[] = [];
  let pending = ops.flatMap((o, i) => (o.kind === 'end' ? [{ i, f: o.finish }] : o.kind === 'start' && o.rejected ? [{ i, f: o.rejected }] : []));
  while (pending.length > 0) {
    const seen = new Set<string>();
    const round = pending.filter((e) => !seen.has(e.f.id) && seen.add(e.f.id));
    pending = pending.filter((e) => !round.includes(e));
    const args: unknown[] = [];
    const rows = round.map(({ f }) => {
      const base = args.length;
      args.push(f.id, f.status, f.httpStatus, f.errorCode, f.finishedAt, JSON.stringify(f.timings), JSON.stringify(f.usage), f.eventCount,
        JSON.stringify(f.responseFindings), f.response, f.forwarded);
      const p = (k: number, t: string): string => `$${base + k}::${t}`;
      return `(${p(1, 'text')}, ${p(2, 'text')}, ${p(3, 'int')}, ${p(4, 'text')}, ${p(5, 'bigint')}, ${p(6, 'jsonb')}, ${p(7, 'jsonb')}, ${p(8, 'int')}, ${p(9, 'jsonb')}, ${p(10, 'bytea')}, ${p(11, 'boolean')})`;
    });
    const r = await c.query(
      `UPDATE exchanges e SET status = v.status, http_status = v.http_status, error_code = v.error_code, finished_at = v.finished_at,
         timings_json = v.timings_json, usage_json = v.usage_json, event_count = v.event_count, response_findings_json = v.response_findings_json,
         response = v.response, forwarded = v.forwarded
       FROM (VALUES ${rows.join(', ')}) AS v(id, status, http_status, error_code, finished_at, timings_json, usage_json, event_count, response_findings_json, response, forwarded)
       WHERE e.id = v.id AND e.status = 'in_progress' RETURNING e.id`, args);
    const ended = new Set(r.rows.map((x) => String(x.id)));
    for (const { i, f } of round) {
      const op = ops[i]!;
      if (!ended.has(f.id)) refused.push(f.id);
      if (op.kind === 'end') out[i] = { ok: true, value: ended.has(f.id) };
      else if (!ended.has(f.id)) out[i] = { ok: false, error: new Error(`exchange ${f.id} is not in progress`) };
    }
  }
  return refused;
}

/**
 * The batch's chain entries, in call order per writer, in one INSERT. An entry about an exchange is checked first
 * (as src/store/sqlite/audit.ts does): the exchange is recorded ('start') or has ended ('finish'); a failed check
 * fails that call alone and takes no seq. Where the caller could not digest the sealed bodies, the database
 * digests them as stored (sha256(), PostgreSQL 11+). Returns the new heads, to be cached once committed.
 */
async function appendEntries(
  c: Db, ops: RecordingOp[], out: Outcome<unknown>[], heads: Map<string, { seq: number; hash: string }>, refusedEnds: Set<string>,
): Promise<Map<string, { seq: number; hash: string }>> {
  const appends = ops.flatMap((o, i) => (o.kind === 'append' ? [{ i, writer: o.writer, input: o.input }] : []));
  const changed = new Map<string, { seq: number; hash: string }>();
  if (appends.length === 0) return changed;
  const bound = appends.flatMap((a) => (a.input.digestBodies ? [a.input.digestBodies] : []));
  const exchanges = new Map<string, Row>();
  const segments = new Map<string, { seq: number; sha256: string }[]>();
  if (bound.length > 0) {
    const ids = [...new Set(bound.map((d) => d.exchangeId))];
    const digestIds = [...new Set(bound.filter((d) => !d.inPayload).map((d) => d.exchangeId))];
    const r = await c.query(`SELECT id, status,
        CASE WHEN id = ANY($2) THEN encode(sha256(client_request), 'hex') END AS client_request,
        CASE WHEN id = ANY($2) THEN encode(sha256(upstream_request), 'hex') END AS upstream_request,
        CASE WHEN id = ANY($2) THEN encode(sha256(response), 'hex') END AS response
      FROM exchanges WHERE id = ANY($1)`, [ids, digestIds]);
    for (const row of r.rows) exchanges.set(String(row.id), row);
    const streamed = [...new Set(bound.filter((d) => !d.inPayload && d.phase === 'finish').map((d) => d.exchangeId))];
    if (streamed.length > 0) {
      const s = await c.query(`SELECT exchange_id, seq, encode(sha256(sealed), 'hex') AS sha256 FROM exchange_segments WHERE exchange_id = ANY($1) ORDER BY exchange_id, seq`, [streamed]);
      for (const row of s.rows) {
        const list = segments.get(String(row.exchange_id)) ?? [];
        list.push({ seq: Number(row.seq), sha256: String(row.sha256) });
        segments.set(String(row.exchange_id), list);
      }
    }
  }
  const cols: unknown[][] = [[], [], [], [], [], [], [], [], []];
  for (const { i, writer, input } of appends) {
    let payloadJson = input.payloadJson;
    const d = input.digestBodies;
    if (d) {
      const b = exchanges.get(d.exchangeId);
      const problem = !b ? `audit: exchange ${d.exchangeId} is not recorded`
        : d.phase === 'finish' && b.status === 'in_progress' ? `audit: exchange ${d.exchangeId} has no recorded finish`
        : d.phase === 'finish' && refusedEnds.delete(d.exchangeId) ? `audit: exchange ${d.exchangeId} was ended by another writer, not by this finish` : undefined;
      if (problem) {
        out[i] = { ok: false, error: new Error(problem) };
        continue;
      }
      if (!d.inPayload) {
        const bodies: BodyDigests = d.phase === 'start'
          ? { client_request: (b!.client_request as string | null) ?? null, upstream_request: (b!.upstream_request as string | null) ?? null }
          : { response: (b!.response as string | null) ?? null, segments: segments.get(d.exchangeId) ?? [] };
        payloadJson = canonicalJson({ ...(JSON.parse(payloadJson) as object), bodies });
      }
    }
    const head = changed.get(writer) ?? heads.get(writer);
    const e = { writer, seq: head ? head.seq + 1 : 1, at: input.at, kind: input.kind, subject: input.subject, refId: input.refId, prev: head ? head.hash : GENESIS_HASH };
    const hash = sha256Hex(entryMessage(e, payloadJson));
    [e.writer, e.seq, e.at, e.kind, e.subject, e.refId, payloadJson, e.prev, hash].forEach((v, k) => cols[k]!.push(v));
    changed.set(writer, { seq: e.seq, hash });
    out[i] = { ok: true, value: { writer, seq: e.seq, hash } satisfies AppendedEntry };
  }
  if (cols[0]!.length > 0) {
    await c.query(`INSERT INTO audit_entries (writer, seq, at, kind, subject, ref_id, payload_json, prev_hash, hash)
      SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])`, cols);
  }
  return changed;
}

/**
 * Transaction-level advisory locks on the keys of text[] parameter $1, in array order: callers sort the keys, so two
 * replicas' batches take them in the same order and cannot deadlock on each other.
 */
const LOCK_SORTED = `(SELECT count(pg_advisory_xact_lock(hashtext(k))) FROM (SELECT k FROM unnest($1::text[]) WITH ORDINALITY AS t(k, ord) ORDER BY ord) s)`;

/**
 * Every session assignment of the batch in one statement, in call order (portcullis_assign_sessions, migration
 * audit/004-assign-sessions-fn): under the identities' advisory locks, each continues the session of its
 * conversation or opens one, and links its exchange. The locks are taken by the same statement, before the
 * function runs: the function's row is computed from the lock count, and a VOLATILE PL/pgSQL function takes a new
 * snapshot for each of its statements (PostgreSQL docs, "Function Volatility Categories"), so it sees every session
 * the previous holder of a lock committed.
 */
async function assignSessions(c: Db, all: SessionAssign[], locks: string[]): Promise<string[]> {
  const r = await c.query(`SELECT CASE WHEN l.n >= 0 THEN portcullis_assign_sessions($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[]) END AS ids
    FROM (SELECT ${LOCK_SORTED} AS n) l`, [
    locks, all.map((a) => a.exchangeId), all.map((a) => a.at), all.map((a) => a.subject), all.map((a) => a.client), all.map((a) => a.key),
    all.map((a) => a.source), all.map((a) => a.gapMs), all.map((a) => `ses_${a.exchangeId.replace(/^[a-z]+_/, '')}`),
  ]);
  const ids = r.rows[0]?.ids;
  if (!Array.isArray(ids) || ids.length !== all.length) throw new Error('portcullis_assign_sessions: one session id per assignment expected');
  return ids.map(String);
}

/** unique_violation on the chain's primary key (PostgreSQL Appendix A, 23505). */
function isChainCollision(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === '23505' && (err as { constraint?: unknown }).constraint === 'audit_entries_pkey';
}

function json(v: unknown): string | null {
  return v === null || v === undefined ? null : JSON.stringify(v);
}
