import type { SQLInputValue } from 'node:sqlite';
import type { ApprovalState } from '../../approvals/state.ts';
import type { ApprovalEventRow, ApprovalRepo, ApprovalRow, TransitionInput, VoteRow } from '../../approvals/repo.ts';
import { APPROVAL_SQL, approvalValues, listSql, toApprovalRow, toEventRow, toVoteRow, transitionArgs, transitionSql } from '../../approvals/rows.ts';
import type { SqliteCore } from './core.ts';
import type { SqliteStore } from './index.ts';
import type { Migration } from './migrations.ts';

/** Approvals on SQLite (runs in the store worker; each call is one savepoint, so a transition and its event commit together). */
export const APPROVAL_MIGRATIONS: readonly Migration[] = [
  { id: 'approvals/001-approvals', sql: `
  CREATE TABLE approvals (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, rule_id TEXT NOT NULL, mode TEXT NOT NULL, scope TEXT NOT NULL,
    requester TEXT NOT NULL, requester_name TEXT NOT NULL, requester_groups_json TEXT NOT NULL, endpoint TEXT NOT NULL,
    model TEXT NOT NULL, policy_version TEXT, decision_id TEXT, exchange_id TEXT NOT NULL, digest TEXT NOT NULL,
    approver_groups_json TEXT NOT NULL, quorum INTEGER NOT NULL, each_group INTEGER NOT NULL, window_ms INTEGER,
    justification TEXT, break_glass INTEGER NOT NULL, findings_json TEXT NOT NULL, sealed_request BLOB,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, decided_at INTEGER,
    decided_by TEXT, reason TEXT
  );
  CREATE INDEX approvals_digest ON approvals(digest, requester);
  CREATE INDEX approvals_due ON approvals(state, expires_at);
  CREATE INDEX approvals_grant ON approvals(requester, rule_id, model, state);
  CREATE INDEX approvals_created ON approvals(created_at);
  CREATE TABLE approval_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, approval_id TEXT NOT NULL, at INTEGER NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, from_state TEXT, to_state TEXT, reason TEXT
  );
  CREATE INDEX approval_events_approval ON approval_events(approval_id, seq);
  CREATE TABLE approval_votes (
    approval_id TEXT NOT NULL, actor TEXT NOT NULL, groups_json TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT,
    at INTEGER NOT NULL, PRIMARY KEY (approval_id, actor)
  );
  ` },
];

type EventIn = Omit<ApprovalEventRow, 'seq'>;
const sqlBool = (b: boolean): number => (b ? 1 : 0);
const args = (a: unknown[]): SQLInputValue[] => a as SQLInputValue[];

function note(core: SqliteCore, e: EventIn): void {
  core.stmt(APPROVAL_SQL.insertEvent).run(e.approvalId, e.at, e.actor, e.action, e.from, e.to, e.reason);
}

function transition(core: SqliteCore, t: TransitionInput): boolean {
  const current = core.stmt(APPROVAL_SQL.state).get(t.id)?.state;
  if (typeof current !== 'string' || !(t.from as string[]).includes(current)) return false;
  if (core.stmt(transitionSql(t.expiresAt !== undefined)).run(...args(transitionArgs(t, current))).changes !== 1) return false;
  note(core, { approvalId: t.id, at: t.at, actor: t.actor, action: 'transition', from: current as ApprovalState, to: t.to, reason: t.reason });
  return true;
}

function vote(core: SqliteCore, v: VoteRow): boolean {
  const ok = core.stmt(APPROVAL_SQL.insertVote).run(v.approvalId, v.actor, JSON.stringify(v.groups), v.verdict, v.reason, v.at).changes === 1;
  if (ok) note(core, { approvalId: v.approvalId, at: v.at, actor: v.actor, action: `vote:${v.verdict}`, from: null, to: null, reason: v.reason });
  return ok;
}

function expireDue(core: SqliteCore, now: number): string[] {
  const due = core.stmt(APPROVAL_SQL.dueIds).all(now);
  const out: string[] = [];
  for (const r of due) {
    const id = String(r.id);
    if (transition(core, { id, from: ['pending', 'approved'], to: 'expired', at: now, actor: 'system', reason: 'expired' })) out.push(id);
  }
  return out;
}

export function approvalsSqlite(core: SqliteCore): Record<string, (...a: never[]) => unknown> {
  return {
    'approvals.create': (row: ApprovalRow, e: EventIn) => {
      core.stmt(APPROVAL_SQL.insert).run(...args(approvalValues(row, sqlBool)));
      note(core, e);
    },
    'approvals.get': (id: string) => core.stmt(APPROVAL_SQL.get).all(id).map(toApprovalRow)[0],
    'approvals.list': (f: Parameters<ApprovalRepo['list']>[0]) => {
      const q = listSql(f);
      return core.stmt(q.sql).all(...args(q.args)).map(toApprovalRow);
    },
    'approvals.byDigest': (digest: string, requester: string) => core.stmt(APPROVAL_SQL.byDigest).all(digest, requester).map(toApprovalRow),
    'approvals.activeGrant': (q: Parameters<ApprovalRepo['activeGrant']>[0]) =>
      core.stmt(APPROVAL_SQL.activeGrant).all(q.requester, q.ruleId, q.model, q.now).map(toApprovalRow)[0],
    'approvals.transition': (t: TransitionInput) => transition(core, t),
    'approvals.vote': (v: VoteRow) => vote(core, v),
    'approvals.votes': (id: string) => core.stmt(APPROVAL_SQL.votes).all(id).map(toVoteRow),
    'approvals.note': (e: EventIn) => note(core, e),
    'approvals.events': (id: string) => core.stmt(APPROVAL_SQL.events).all(id).map(toEventRow),
    'approvals.expireDue': (now: number) => expireDue(core, now),
  };
}

/** Structured clone turns Buffers into Uint8Arrays; rows are re-mapped on this side. */
const fix = (r: ApprovalRow | undefined): ApprovalRow | undefined =>
  r && { ...r, sealedRequest: r.sealedRequest && Buffer.from(r.sealedRequest.buffer, r.sealedRequest.byteOffset, r.sealedRequest.byteLength) };

export function sqliteApprovalRepo(store: SqliteStore): ApprovalRepo {
  return {
    create: (row, e) => store.callExt('approvals.create', row, e),
    get: async (id) => fix(await store.callExt<ApprovalRow | undefined>('approvals.get', id)),
    list: async (f) => (await store.callExt<ApprovalRow[]>('approvals.list', f)).map((r) => fix(r)!),
    byDigest: async (d, r) => (await store.callExt<ApprovalRow[]>('approvals.byDigest', d, r)).map((x) => fix(x)!),
    activeGrant: async (q) => fix(await store.callExt<ApprovalRow | undefined>('approvals.activeGrant', q)),
    transition: (t) => store.callExt('approvals.transition', t),
    vote: (v) => store.callExt('approvals.vote', v),
    votes: (id) => store.callExt('approvals.votes', id),
    note: (e) => store.callExt('approvals.note', e),
    events: (id) => store.callExt('approvals.events', id),
    expireDue: (now) => store.callExt('approvals.expireDue', now),
  };
}
