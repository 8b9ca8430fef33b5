import { newId } from '../core/ids.ts';
import { sweep, type Crossing } from './rules.ts';
import { MAX_LINKED, type AlertRule, type Suspension, type Firing, type Hit, type Investigation, type InvestigationNote, type InvestigationState } from './types.ts';

/**
 * The store side of alert evaluation, written once for both engines: a generator that yields SQL (PostgreSQL
 * `$n` placeholders; the SQLite driver rewrites them to `?n`) and receives the rows. SQLite runs it synchronously
 * inside the store worker's transaction; PostgreSQL awaits each statement inside its transaction.
 *
 * Why no firing is lost or doubled across replicas: for each rule + subject the evaluator first upserts its state
 * row, which locks it until commit (PostgreSQL; SQLite has one writer), so evaluators of the same subject run one
 * after the other and each sees the hits the other committed; the firing itself is an insert that does nothing on
 * a conflict of the unique key (rule, subject, window), so even two evaluations of the same hits insert once.
 */
export interface Query {
  sql: string;
  params: unknown[];
}
type Rows = Record<string, unknown>[];
export type AlertProgram<T> = Generator<Query, T, Rows>;

const DAY_MS = 86_400_000;
const num = (v: unknown): number => Number(v ?? 0);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

export const ALERT_TABLES_SQL = (bigint: string): string => `
  CREATE TABLE alert_state (rule_id TEXT NOT NULL, subject TEXT NOT NULL, last_fired_at ${bigint} NOT NULL, PRIMARY KEY (rule_id, subject));
  CREATE TABLE alert_hits (
    rule_id TEXT NOT NULL, subject TEXT NOT NULL, at ${bigint} NOT NULL, exchange_id TEXT NOT NULL, weight ${bigint} NOT NULL,
    PRIMARY KEY (rule_id, subject, exchange_id)
  );
  CREATE INDEX alert_hits_window ON alert_hits(rule_id, subject, at);
  CREATE INDEX alert_hits_age ON alert_hits(at);
  CREATE TABLE alert_seen (rule_id TEXT NOT NULL, subject TEXT NOT NULL, value TEXT NOT NULL, first_at ${bigint} NOT NULL, PRIMARY KEY (rule_id, subject, value));
  CREATE TABLE investigations (
    id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL, subject TEXT NOT NULL, identity TEXT,
    window_key TEXT NOT NULL, opened_at ${bigint} NOT NULL, state TEXT NOT NULL, assignee TEXT, closed_at ${bigint}, closed_by TEXT,
    resolution TEXT, summary TEXT NOT NULL, exchange_ids TEXT NOT NULL, response TEXT NOT NULL, notified_at ${bigint},
    UNIQUE (rule_id, subject, window_key)
  );
  CREATE INDEX investigations_state ON investigations(state, id);
  CREATE INDEX investigations_unnotified ON investigations(opened_at) WHERE notified_at IS NULL;
  CREATE TABLE investigation_notes (investigation_id TEXT NOT NULL REFERENCES investigations(id), id TEXT NOT NULL, at ${bigint} NOT NULL, author TEXT NOT NULL, text TEXT NOT NULL, PRIMARY KEY (investigation_id, id));
  CREATE TABLE alert_suspensions (identity TEXT PRIMARY KEY, investigation_id TEXT, since ${bigint} NOT NULL, lifted_at ${bigint}, lifted_by TEXT);
`;

/** respond require_approval (docs/alerts.md#automatic-response-suspension-or-approval): the same table, with what the response is. */
export const ALERT_RESPONSE_MODE_SQL = `
  ALTER TABLE alert_suspensions ADD COLUMN mode TEXT NOT NULL DEFAULT 'suspend';
  ALTER TABLE alert_suspensions ADD COLUMN approvers TEXT NOT NULL DEFAULT '[]';
`;

export const SUSPENSION_COLUMNS = 'identity, investigation_id, since, mode, approvers';

export function suspensionOfRow(r: Record<string, unknown>): Suspension {
  return {
    identity: String(r.identity), investigationId: str(r.investigation_id), since: num(r.since),
    // Anything but a well-formed approval requirement is a suspension (fail closed).
    mode: r.mode === 'require_approval' ? 'require_approval' : 'suspend',
    approvers: (json(r.approvers ?? '[]') as unknown[]).filter((x): x is string => typeof x === 'string' && x.length > 0),
  };
}

const q = (sql: string, ...params: unknown[]): Query => ({ sql, params });

function summaryOf(rule: AlertRule, subject: string, c: Crossing): string {
  const minutes = typeof rule.window === 'number' ? `${rule.window / 60_000} min` : 'one UTC day';
  switch (rule.kind) {
    case 'refusals': return `${c.weight} refusals by ${subject} within ${minutes}`;
    case 'approvals_denied': return `${c.weight} denied approvals by ${subject} within ${minutes}`;
    case 'findings': return `${c.weight} findings by ${subject} within ${minutes}`;
    case 'spend': return `spend of ${subject} reached $${(c.weight / 1_000_000).toFixed(2)} on ${c.windowKey} (limit $${(rule.threshold / 1_000_000).toFixed(2)})`;
    case 'new_client': return `${subject} used a new client tool: ${c.windowKey}`;
    case 'new_network': return `${subject} was used from a new network: ${c.windowKey}`;
  }
}

/** Applies the hits of one batch; returns the investigations it opened. */
export function* applyHits(hits: readonly Hit[], rules: ReadonlyMap<string, AlertRule>, now: number): AlertProgram<Firing[]> {
  const opened: Firing[] = [];
  for (let i = 0; i < hits.length;) {
    let j = i;
    while (j < hits.length && hits[j]!.ruleId === hits[i]!.ruleId && hits[j]!.subject === hits[i]!.subject) j++;
    const group = hits.slice(i, j);
    i = j;
    const first = group[0]!;
    const rule = rules.get(first.ruleId);
    if (!rule) continue;
    // Locks this rule + subject until commit: evaluators of the same subject take turns.
    const state = yield q(`INSERT INTO alert_state (rule_id, subject, last_fired_at) VALUES ($1, $2, 0)
      ON CONFLICT (rule_id, subject) DO UPDATE SET rule_id = excluded.rule_id RETURNING last_fired_at`, rule.id, first.subject);
    const lastFiredAt = num(state[0]?.last_fired_at);
    const crossings: Crossing[] = [];
    if (rule.mode === 'novel') {
      // The first hit of each value in this batch (hits are in time order); the state row lock makes this exact.
      const firstOf = new Map<string, Hit>();
      for (const hit of group) if (!firstOf.has(hit.value ?? '')) firstOf.set(hit.value ?? '', hit);
      let known = (yield q('SELECT 1 AS known FROM alert_seen WHERE rule_id = $1 AND subject = $2 LIMIT 1', rule.id, first.subject)).length > 0;
      for (const [value, hit] of firstOf) {
        const added = yield q(`INSERT INTO alert_seen (rule_id, subject, value, first_at) VALUES ($1, $2, $3, $4)
          ON CONFLICT (rule_id, subject, value) DO NOTHING RETURNING value`, rule.id, first.subject, value, hit.at);
        // The first value of a subject is its baseline, not news.
        if (added.length > 0 && known) crossings.push({ at: hit.at, windowKey: value, weight: 1, exchangeIds: [hit.exchangeId] });
        known = true;
      }
    } else {
      // One statement for the group's hits (5 parameters each; a batch stays far below SQLite's 32766).
      const values = group.map((_, k) => `($1, $2, $${3 * k + 3}, $${3 * k + 4}, $${3 * k + 5})`).join(', ');
      yield q(`INSERT INTO alert_hits (rule_id, subject, at, exchange_id, weight) VALUES ${values} ON CONFLICT (rule_id, subject, exchange_id) DO NOTHING`,
        rule.id, first.subject, ...group.flatMap((hit) => [hit.at, hit.exchangeId, Math.round(hit.weight)]));
      const minAt = Math.min(...group.map((h) => h.at));
      const from = rule.window === 'day' ? minAt - (minAt % DAY_MS) : minAt - rule.window;
      const counted = yield q('SELECT at, weight, exchange_id FROM alert_hits WHERE rule_id = $1 AND subject = $2 AND at > $3 AND at >= $4 ORDER BY at',
        rule.id, first.subject, lastFiredAt, from);
      crossings.push(...sweep(counted.map((r) => ({ at: num(r.at), weight: num(r.weight), exchangeId: String(r.exchange_id) })), rule, lastFiredAt));
      if (crossings.length > 0) {
        yield q('UPDATE alert_state SET last_fired_at = $3 WHERE rule_id = $1 AND subject = $2', rule.id, first.subject, Math.max(...crossings.map((c) => c.at)));
      }
    }
    for (const c of crossings) {
      const f: Firing = {
        id: newId('inv', now), ruleId: rule.id, kind: rule.kind, severity: rule.severity, subject: first.subject, identity: first.identity,
        windowKey: c.windowKey, openedAt: now, summary: summaryOf(rule, first.subject, c), exchangeIds: c.exchangeIds.slice(-MAX_LINKED), response: rule.respond,
      };
      const inserted = yield q(`INSERT INTO investigations (id, rule_id, kind, severity, subject, identity, window_key, opened_at, state, summary, exchange_ids, response)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11) ON CONFLICT (rule_id, subject, window_key) DO NOTHING RETURNING id`,
      f.id, f.ruleId, f.kind, f.severity, f.subject, f.identity, f.windowKey, f.openedAt, f.summary, JSON.stringify(f.exchangeIds), f.response);
      if (inserted.length === 0) continue;
      if (f.response !== 'none' && f.identity) {
        // One row per identity: a suspension outranks an approval requirement already in force (never weakened).
        yield q(`INSERT INTO alert_suspensions (identity, investigation_id, since, mode, approvers) VALUES ($1, $2, $3, $4, $5)
          ON CONFLICT (identity) DO UPDATE SET investigation_id = excluded.investigation_id, since = excluded.since, lifted_at = NULL, lifted_by = NULL,
            mode = CASE WHEN alert_suspensions.lifted_at IS NULL AND alert_suspensions.mode = 'suspend' THEN 'suspend' ELSE excluded.mode END,
            approvers = excluded.approvers`, f.identity, f.id, now, f.response, JSON.stringify(rule.approvers));
      }
      opened.push(f);
    }
  }
  return opened;
}

export const INVESTIGATION_COLUMNS = 'id, rule_id, kind, severity, subject, identity, window_key, opened_at, state, assignee, closed_at, closed_by, resolution, summary, exchange_ids, response';

export function firingOfRow(r: Record<string, unknown>): Firing {
  return {
    id: String(r.id), ruleId: String(r.rule_id), kind: String(r.kind) as Firing['kind'], severity: String(r.severity) as Firing['severity'],
    subject: String(r.subject), identity: str(r.identity), windowKey: String(r.window_key), openedAt: num(r.opened_at), summary: String(r.summary),
    exchangeIds: (json(r.exchange_ids) as unknown[]).filter((x): x is string => typeof x === 'string'), response: r.response === 'suspend' || r.response === 'require_approval' ? r.response : 'none',
  };
}

export function investigationOfRow(r: Record<string, unknown>, notes: Rows): Investigation {
  return {
    ...firingOfRow(r), state: String(r.state) as InvestigationState, assignee: str(r.assignee), closedAt: r.closed_at === null || r.closed_at === undefined ? null : num(r.closed_at),
    closedBy: str(r.closed_by), resolution: str(r.resolution),
    notes: notes.map((n): InvestigationNote => ({ id: String(n.id), at: num(n.at), author: String(n.author), text: String(n.text) })),
  };
}

/** The investigation with its notes, or undefined. */
export function* readInvestigation(id: string): AlertProgram<Investigation | undefined> {
  const rows = yield q(`SELECT ${INVESTIGATION_COLUMNS} FROM investigations WHERE id = $1`, id);
  if (rows.length === 0) return undefined;
  const notes = yield q('SELECT id, at, author, text FROM investigation_notes WHERE investigation_id = $1 ORDER BY at, id', id);
  return investigationOfRow(rows[0]!, notes);
}

/** A change to an investigation that is not closed (closed is final); then the investigation as it is now. */
export function* changeInvestigation(id: string, change: { assign: string } | { note: InvestigationNote } | { close: { by: string; resolution: string; at: number } }): AlertProgram<Investigation | undefined> {
  let changed: Rows;
  if ('assign' in change) changed = yield q(`UPDATE investigations SET assignee = $2, state = 'assigned' WHERE id = $1 AND state <> 'closed' RETURNING id`, id, change.assign);
  else if ('close' in change) {
    changed = yield q(`UPDATE investigations SET state = 'closed', closed_at = $2, closed_by = $3, resolution = $4 WHERE id = $1 AND state <> 'closed' RETURNING id`,
      id, change.close.at, change.close.by, change.close.resolution);
  } else {
    changed = yield q(`SELECT id FROM investigations WHERE id = $1 AND state <> 'closed'`, id);
    if (changed.length > 0) {
      yield q('INSERT INTO investigation_notes (investigation_id, id, at, author, text) VALUES ($1, $2, $3, $4, $5)', id, change.note.id, change.note.at, change.note.author, change.note.text);
    }
  }
  if (changed.length === 0) return undefined;
  return yield* readInvestigation(id);
}

/** Runs a program synchronously (SQLite worker): `$n` → `?n`. */
export function runSync<T>(program: AlertProgram<T>, exec: (sql: string, params: unknown[]) => Rows): T {
  let step = program.next();
  while (!step.done) step = program.next(exec(step.value.sql.replace(/\$(\d+)/g, '?$1'), step.value.params));
  return step.value;
}

/** Runs a program on PostgreSQL, each statement awaited. */
export async function runAsync<T>(program: AlertProgram<T>, exec: (sql: string, params: unknown[]) => Promise<Rows>): Promise<T> {
  let step = program.next();
  while (!step.done) step = program.next(await exec(step.value.sql, step.value.params));
  return step.value;
}
