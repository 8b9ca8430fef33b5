import type pg from 'pg';
import type { ApprovalEventRow, ApprovalRepo, TransitionInput } from '../../approvals/repo.ts';
import { APPROVAL_SQL, approvalValues, listSql, toApprovalRow, toEventRow, toVoteRow, transitionArgs, transitionSql } from '../../approvals/rows.ts';
import type { ApprovalState } from '../../approvals/state.ts';
import type { Migration } from '../sqlite/migrations.ts';
import type { PostgresStore } from './index.ts';
import { notifyChange } from './changes.ts';

/** Approvals on PostgreSQL: the twin of src/store/sqlite/approvals.ts, shared by every replica. */
export const APPROVAL_PG_MIGRATIONS: readonly Migration[] = [
  { id: 'approvals/001-approvals', sql: `
  CREATE TABLE approvals (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, rule_id TEXT NOT NULL, mode TEXT NOT NULL, scope TEXT NOT NULL,
    requester TEXT NOT NULL, requester_name TEXT NOT NULL, requester_groups_json JSONB NOT NULL, endpoint TEXT NOT NULL,
    model TEXT NOT NULL, policy_version TEXT, decision_id TEXT, exchange_id TEXT NOT NULL, digest TEXT NOT NULL,
    approver_groups_json JSONB NOT NULL, quorum INTEGER NOT NULL, each_group BOOLEAN NOT NULL, window_ms BIGINT,
    justification TEXT, break_glass BOOLEAN NOT NULL, findings_json JSONB NOT NULL, sealed_request BYTEA,
    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, decided_at BIGINT,
    decided_by TEXT, reason TEXT
  );
  CREATE INDEX approvals_digest ON approvals(digest, requester);
  CREATE INDEX approvals_due ON approvals(state, expires_at);
  CREATE INDEX approvals_grant ON approvals(requester, rule_id, model, state);
  CREATE INDEX approvals_created ON approvals(created_at);
  CREATE TABLE approval_events (
    seq BIGSERIAL PRIMARY KEY, approval_id TEXT NOT NULL, at BIGINT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, from_state TEXT, to_state TEXT, reason TEXT
  );
  CREATE INDEX approval_events_approval ON approval_events(approval_id, seq);
  CREATE TABLE approval_votes (
    approval_id TEXT NOT NULL, actor TEXT NOT NULL, groups_json JSONB NOT NULL, verdict TEXT NOT NULL, reason TEXT,
    at BIGINT NOT NULL, PRIMARY KEY (approval_id, actor)
  );
  ` },
];

type EventIn = Omit<ApprovalEventRow, 'seq'>;
type Db = Pick<pg.PoolClient, 'query'>;

/** `?` placeholders numbered for PostgreSQL. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const SQL = Object.fromEntries(Object.entries(APPROVAL_SQL).map(([k, v]) => [k, numbered(v)])) as Record<keyof typeof APPROVAL_SQL, string>;

async function note(db: Db, e: EventIn): Promise<void> {
  await db.query(SQL.insertEvent, [e.approvalId, e.at, e.actor, e.action, e.from, e.to, e.reason]);
}

/** Row lock, check, update, event — one transaction, so replicas racing on the same approval serialize. */
async function transition(db: Db, t: TransitionInput): Promise<boolean> {
  const cur = (await db.query<{ state: string }>(`${SQL.state} FOR UPDATE`, [t.id])).rows[0]?.state;
  if (cur === undefined || !(t.from as string[]).includes(cur)) return false;
  const res = await db.query(numbered(transitionSql(t.expiresAt !== undefined)), transitionArgs(t, cur));
  if (res.rowCount !== 1) return false;
  await note(db, { approvalId: t.id, at: t.at, actor: t.actor, action: 'transition', from: cur as ApprovalState, to: t.to, reason: t.reason });
  // With the commit, a request held on another replica re-reads its approval at once (docs/fleet.md).
  await notifyChange(db, { kind: 'approval_decided', id: t.id });
  return true;
}

export function postgresApprovalRepo(store: PostgresStore): ApprovalRepo {
  const rows = async (sql: string, a: unknown[]) => (await store.query(sql, a)).rows;
  return {
    create: (row, e) => store.transaction(async (c) => {
      await c.query(SQL.insert, approvalValues(row, (b) => b));
      await note(c, e);
    }),
    get: async (id) => (await rows(SQL.get, [id])).map(toApprovalRow)[0],
    list: async (f) => {
      const q = listSql(f);
      return (await rows(numbered(q.sql), q.args)).map(toApprovalRow);
    },
    byDigest: async (d, r) => (await rows(SQL.byDigest, [d, r])).map(toApprovalRow),
    activeGrant: async (q) => (await rows(SQL.activeGrant, [q.requester, q.ruleId, q.model, q.now])).map(toApprovalRow)[0],
    transition: (t) => (t.from.length === 0 ? Promise.resolve(false) : store.transaction((c) => transition(c, t))),
    vote: (v) => store.transaction(async (c) => {
      const ins = await c.query(SQL.insertVote, [v.approvalId, v.actor, JSON.stringify(v.groups), v.verdict, v.reason, v.at]);
      if (ins.rowCount !== 1) return false;
      await note(c, { approvalId: v.approvalId, at: v.at, actor: v.actor, action: `vote:${v.verdict}`, from: null, to: null, reason: v.reason });
      return true;
    }),
    votes: async (id) => (await rows(SQL.votes, [id])).map(toVoteRow),
    note: (e) => note({ query: (s: string, a: unknown[]) => store.query(s, a) } as Db, e),
    events: async (id) => (await rows(SQL.events, [id])).map(toEventRow),
    expireDue: async (now) => {
      const out: string[] = [];
      for (const r of await rows(SQL.dueIds, [now])) {
        const id = String(r.id);
        const ok = await store.transaction((c) => transition(c, { id, from: ['pending', 'approved'], to: 'expired', at: now, actor: 'system', reason: 'expired' }));
        if (ok) out.push(id);
      }
      return out;
    },
  };
}
