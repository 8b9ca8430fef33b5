import type { ApprovalMode, ApprovalScope } from './rule.ts';
import type { ApprovalState } from './state.ts';

/** One approval as stored (SQLite and PostgreSQL). Times are epoch ms. The held request is sealed ('approvals' key). */
export interface ApprovalRow {
  id: string;
  state: ApprovalState;
  ruleId: string;
  mode: ApprovalMode;
  scope: ApprovalScope;
  requester: string;
  requesterName: string;
  requesterGroups: string[];
  endpoint: string;
  model: string;
  policyVersion: string | null;
  decisionId: string | null;
  exchangeId: string;
  digest: string;
  approverGroups: string[];
  quorum: number;
  eachGroup: boolean;
  windowMs: number | null;
  justification: string | null;
  breakGlass: boolean;
  /** Findings of the held request (types, paths, offsets; never values). */
  findings: Record<string, unknown>[];
  /** The client's request body, sealed with AAD `approval/<id>`. */
  sealedRequest: Buffer | null;
  createdAt: number;
  updatedAt: number;
  /** pending: the pending expiry; approved: until when it may be used (window: the window's end). */
  expiresAt: number;
  decidedAt: number | null;
  decidedBy: string | null;
  reason: string | null;
}

/** A recorded step: a transition (`from` → `to`), a vote, or a refused attempt (`action` = `refused:<why>`). */
export interface ApprovalEventRow {
  approvalId: string;
  seq: number;
  at: number;
  actor: string;
  action: string;
  from: ApprovalState | null;
  to: ApprovalState | null;
  reason: string | null;
}

export interface VoteRow {
  approvalId: string;
  actor: string;
  groups: string[];
  verdict: 'approve' | 'deny';
  reason: string | null;
  at: number;
}

export interface TransitionInput {
  id: string;
  from: ApprovalState[];
  to: ApprovalState;
  at: number;
  actor: string;
  reason: string | null;
  /** New `expires_at` (approval: the use-by time or window end). */
  expiresAt?: number;
}

export interface ApprovalFilter {
  state?: ApprovalState;
  requester?: string;
  /** 1–500 (default 50). */
  limit?: number;
  /** Keyset cursor: only approvals after this one in the list order (`created_at DESC, id DESC`). */
  before?: { createdAt: number; id: string };
  /** Requested at or after (epoch ms): with `createdUntil`, the approvals a usage bucket counts (docs/analytics.md#approvals). */
  createdSince?: number;
  /** Requested before (epoch ms, exclusive). */
  createdUntil?: number;
  /** Only approvals of requests for this model. */
  model?: string;
  /**
   * How it left pending, as usage analytics counts it (src/analytics/fold.ts approvalMeasures): `approved` also
   * covers one since executed, or whose grant expired unused; `expired`/`cancelled` only undecided ones.
   */
  outcome?: ApprovalOutcome;
}

export const APPROVAL_OUTCOMES = ['approved', 'denied', 'expired', 'cancelled'] as const;
export type ApprovalOutcome = (typeof APPROVAL_OUTCOMES)[number];

/** Persistence port of the approvals module; every method is one atomic step on both engines. */
export interface ApprovalRepo {
  create(row: ApprovalRow, event: Omit<ApprovalEventRow, 'seq'>): Promise<void>;
  get(id: string): Promise<ApprovalRow | undefined>;
  list(f: ApprovalFilter): Promise<ApprovalRow[]>;
  /** Approvals for this digest and requester, newest first (deferred retries, hold after restart). */
  byDigest(digest: string, requester: string): Promise<ApprovalRow[]>;
  /** An approved window grant covering requester × rule × model at `now`. */
  activeGrant(q: { requester: string; ruleId: string; model: string; now: number }): Promise<ApprovalRow | undefined>;
  /** Compare-and-set: applied (and its event appended) only if the row is in one of `from`; returns whether it was. */
  transition(t: TransitionInput): Promise<boolean>;
  /** Records a vote once per actor (false when this actor already voted) and its event. */
  vote(v: VoteRow): Promise<boolean>;
  votes(id: string): Promise<VoteRow[]>;
  /** Appends an event without a state change (refused attempts). */
  note(e: Omit<ApprovalEventRow, 'seq'>): Promise<void>;
  events(id: string): Promise<ApprovalEventRow[]>;
  /** Pending and approved rows whose `expires_at` passed: moved to expired; returns their ids. */
  expireDue(now: number): Promise<string[]>;
}
