import { EventEmitter } from 'node:events';
import { consolePage } from '../console/url.ts';
import type { Clock } from '../core/clock.ts';
import { GatewayError } from '../core/errors.ts';
import type { Finding } from '../core/findings.ts';
import { newId } from '../core/ids.ts';
import type { Principal } from '../core/principal.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { createFieldHasher, redactSecrets, safeIdent, type FieldHasher } from '../core/sanitize.ts';
import type { ApprovalEventRow, ApprovalFilter, ApprovalRepo, ApprovalRow, VoteRow } from './repo.ts';
import type { ApprovalRequirement } from './rule.ts';
import { isTerminal, sourcesOf, tally, type ApprovalState } from './state.ts';

/** What the service emits for every change and refusal (shaped like an audit record: `AuditLog.append`-ready). */
export interface ApprovalAuditRecord {
  kind: `approval.${string}`;
  subject: string | null;
  refId: string;
  payload: { [k: string]: string | number | boolean | null | string[] };
}

/** Where an approval can be seen: the admin API resource, and the console page people open (docs/console.md). */
export interface ApprovalLinks {
  api: string;
  console: string;
}

export interface ApprovalNotifier {
  /** Tells approvers a request waits (never awaited by the data path; must not throw). */
  requested(row: ApprovalRow, links: ApprovalLinks): void;
}

export interface ApprovalServiceOptions {
  repo: ApprovalRepo;
  keyring: Keyring;
  clock: Clock;
  /** Base URL of links in errors and notifications (config `server.public_url`). */
  publicUrl: string;
  emit?: (r: ApprovalAuditRecord) => void;
  notifier?: ApprovalNotifier;
  /** How often a held request re-reads its approval (another replica may decide it). */
  pollMs?: number;
}

export interface OpenInput {
  requirement: ApprovalRequirement;
  principal: Principal;
  exchangeId: string;
  endpoint: string;
  model: string;
  policyVersion: string | null;
  decisionId: string | null;
  digest: string;
  body: unknown;
  findings: readonly Finding[];
  justification: string | null;
  breakGlass?: string;
}

export const approvalAad = (id: string): string => `approval/${id}`;

/**
 * Approvals over the store: every state lives in the repo (a restart or another replica sees the same thing);
 * every transition is a compare-and-set with its event, and is emitted. Refusals (self-approval, outsider,
 * double vote, expired, reuse, digest mismatch) are recorded on the approval and emitted too.
 */
export class ApprovalService {
  readonly #o: ApprovalServiceOptions;
  readonly #wake = new EventEmitter();
  #closing = false;

  /** Client-supplied text is stored, chained and sent to webhooks in clear: credential-shaped words are hashed first. */
  readonly #hasher: FieldHasher;

  constructor(o: ApprovalServiceOptions) {
    this.#o = o;
    this.#hasher = createFieldHasher(o.keyring.key('events').export());
    this.#wake.setMaxListeners(0);
  }

  link(id: string): string {
    return `${this.#o.publicUrl.replace(/\/$/, '')}/admin/v1/approvals/${encodeURIComponent(id)}`;
  }

  consoleLink(id: string): string {
    return `${consolePage(this.#o.publicUrl)}#/approvals/${encodeURIComponent(id)}`;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Creates a pending approval (or, for break-glass, an approved-and-executed one that is flagged). */
  async open(raw: OpenInput): Promise<ApprovalRow> {
    // The requester's header text and model name as the exchange record keeps them (docs/audit.md#what-is-stored-in-clear).
    const i: OpenInput = {
      ...raw, model: this.#model(raw.model),
      justification: raw.justification === null ? null : redactSecrets(raw.justification, this.#hasher),
      ...(raw.breakGlass !== undefined ? { breakGlass: redactSecrets(raw.breakGlass, this.#hasher) } : {}),
    };
    const now = this.#o.clock.now();
    const id = newId('apr', now);
    const r = i.requirement;
    const row: ApprovalRow = {
      id, state: 'pending', ruleId: r.ruleId, mode: r.mode, scope: r.scope, requester: i.principal.subject, requesterName: i.principal.displayName,
      requesterGroups: [...i.principal.groups], endpoint: i.endpoint, model: i.model, policyVersion: i.policyVersion, decisionId: i.decisionId,
      exchangeId: i.exchangeId, digest: i.digest, approverGroups: r.approverGroups, quorum: r.quorum, eachGroup: r.eachGroup,
      windowMs: r.windowMs ?? null, justification: i.justification, breakGlass: i.breakGlass !== undefined,
      findings: i.findings.map((f) => ({ type: f.type, path: f.path ?? null, start: f.start, end: f.end, detector: f.detector, action: f.action ?? null })),
      sealedRequest: this.#o.keyring.seal('approvals', Buffer.from(JSON.stringify(i.body)), approvalAad(id)),
      createdAt: now, updatedAt: now, expiresAt: now + r.pendingExpiryMs, decidedAt: null, decidedBy: null, reason: null,
    };
    await this.#o.repo.create(row, { approvalId: id, at: now, actor: row.requester, action: 'created', from: null, to: 'pending', reason: i.justification });
    this.#emit('approval.requested', row.requester, row, { state: 'pending', justification: i.justification });
    if (i.breakGlass !== undefined) {
      await this.#move(row, 'approved', { actor: row.requester, reason: `break-glass: ${i.breakGlass}`, expiresAt: now + (r.windowMs ?? r.pendingExpiryMs) });
      return (await this.get(id))!;
    }
    this.#o.notifier?.requested(row, { api: this.link(id), console: this.consoleLink(id) });
    return row;
  }

  /** The approval, with a lapsed pending/approved state moved to expired first (expiry never waits for a sweeper). */
  async get(id: string): Promise<ApprovalRow | undefined> {
    const row = await this.#o.repo.get(id);
    if (row && (row.state === 'pending' || row.state === 'approved') && row.expiresAt <= this.#o.clock.now()) {
      await this.#move(row, 'expired', { actor: 'system', reason: 'expired' });
      return this.#o.repo.get(id);
    }
    return row;
  }

  /** Approvals of this request digest and requester, newest first, lapsed ones expired. */
  async forDigest(digest: string, requester: string): Promise<ApprovalRow[]> {
    const rows = await this.#o.repo.byDigest(digest, requester);
    return Promise.all(rows.map(async (r) => (r.state === 'pending' || r.state === 'approved' ? ((await this.get(r.id)) ?? r) : r)));
  }

  list(f: ApprovalFilter): Promise<ApprovalRow[]> {
    return this.#o.repo.list(f);
  }

  votes(id: string): Promise<VoteRow[]> {
    return this.#o.repo.votes(id);
  }

  events(id: string): Promise<ApprovalEventRow[]> {
    return this.#o.repo.events(id);
  }

  activeGrant(q: { requester: string; ruleId: string; model: string }): Promise<ApprovalRow | undefined> {
    return this.#o.repo.activeGrant({ ...q, model: this.#model(q.model), now: this.#o.clock.now() });
  }

  /** An approver's verdict. Throws a GatewayError (and records the attempt) when the actor may not decide. */
  async decide(d: { id: string; actor: Principal; verdict: 'approve' | 'deny'; reason: string | null }): Promise<ApprovalRow> {
    const row = await this.get(d.id);
    if (!row) throw new GatewayError('not_found', 'No such approval.');
    const refuse = async (why: string, err: GatewayError): Promise<never> => {
      await this.refused(row, d.actor.subject, why);
      throw err;
    };
    if (row.state === 'expired') return refuse('expired', new GatewayError('conflict', `Approval ${row.id} expired; it can no longer be decided.`, { details: { state: row.state } }));
    if (row.state !== 'pending') return refuse('not_pending', new GatewayError('conflict', `Approval ${row.id} is ${row.state}; it can no longer be decided.`, { details: { state: row.state } }));
    if (d.actor.subject === row.requester) return refuse('self_approval', new GatewayError('forbidden', 'You cannot decide your own request.'));
    const groups = row.approverGroups.filter((g) => d.actor.groups.includes(g));
    if (groups.length === 0) return refuse('not_an_approver', new GatewayError('forbidden', 'You are not in an approver group of this approval.'));
    const at = this.#o.clock.now();
    const voted = await this.#o.repo.vote({ approvalId: row.id, actor: d.actor.subject, groups, verdict: d.verdict, reason: d.reason, at });
    if (!voted) return refuse('already_voted', new GatewayError('conflict', 'You already decided this approval.'));
    this.#emit(`approval.vote_${d.verdict}`, d.actor.subject, row, { reason: d.reason });
    const votes = await this.#o.repo.votes(row.id);
    const outcome = tally({ approverGroups: row.approverGroups, quorum: row.quorum, eachGroup: row.eachGroup }, votes);
    if (outcome !== 'pending') {
      const expiresAt = outcome === 'approved' ? at + (row.scope === 'window' ? (row.windowMs ?? 0) : Math.max(row.expiresAt - row.createdAt, 60_000)) : undefined;
      await this.#move(row, outcome, { actor: d.actor.subject, reason: d.reason, expiresAt });
    }
    return (await this.#o.repo.get(row.id))!;
  }

  /** The held client went away before a decision. */
  async cancel(id: string, actor: string, reason: string): Promise<boolean> {
    const row = await this.#o.repo.get(id);
    return row ? this.#move(row, 'cancelled', { actor, reason }) : false;
  }

  /** Spends a one-request approval: approved → executed, once (compare-and-set; a second use finds it executed). */
  async consume(row: ApprovalRow, actor: string): Promise<boolean> {
    if (row.scope !== 'request') return row.state === 'approved';
    return this.#move(row, 'executed', { actor, reason: 'request forwarded' });
  }

  async refused(row: ApprovalRow, actor: string, why: string): Promise<void> {
    await this.#o.repo.note({ approvalId: row.id, at: this.#o.clock.now(), actor, action: `refused:${why}`, from: row.state, to: null, reason: why });
    this.#emit('approval.refused', actor, row, { refused: why, state: row.state });
  }

  /**
   * Moves overdue approvals to expired (run by a timer; `get` also expires lazily) and emits `approval.expired`
   * (actor `system`) for each one this call moved, like every other transition. The store's compare-and-set means
   * a row expired here was not expired by a lazy read or another replica, so each expiry is emitted once.
   */
  async expireDue(): Promise<string[]> {
    const ids = await this.#o.repo.expireDue(this.#o.clock.now());
    for (const id of ids) {
      this.#wake.emit(id);
      const expired = { state: 'expired', reason: 'expired' } as const;
      const [row, events] = await Promise.all([this.#o.repo.get(id), this.#o.repo.events(id)]).catch(() => [undefined, []] as const);
      if (row) {
        const from = events.findLast((e) => e.action === 'transition' && e.to === 'expired')?.from ?? null;
        this.#emit('approval.expired', 'system', row, { from, ...expired });
      } else {
        // The expiry is stored; if its row cannot be read back now, it is still emitted, with what is known.
        try {
          this.#o.emit?.({ kind: 'approval.expired', subject: 'system', refId: id, payload: { approval_id: id, from: null, ...expired } });
        } catch {
          /* as #emit: an emitter must not break the sweep */
        }
      }
    }
    return ids;
  }

  /**
   * Waits until the approval leaves `pending`, the deadline passes, the signal fires or the service closes.
   * Woken at once by a decision in this process; re-reads the store every `pollMs` for decisions elsewhere.
   */
  async waitForDecision(id: string, w: { deadline: number; signal?: AbortSignal; keepAlive?: () => void; keepAliveMs: number }): Promise<ApprovalRow | 'aborted' | 'closing' | 'timeout'> {
    let lastKeepAlive = this.#o.clock.now();
    for (;;) {
      if (w.signal?.aborted) return 'aborted';
      if (this.#closing) return 'closing';
      const row = await this.get(id);
      if (!row) return 'timeout';
      if (row.state !== 'pending') return row;
      const now = this.#o.clock.now();
      if (now >= w.deadline) return 'timeout';
      if (w.keepAlive && now - lastKeepAlive >= w.keepAliveMs) {
        w.keepAlive();
        lastKeepAlive = now;
      }
      await this.#sleep(id, Math.min(this.#o.pollMs ?? 250, w.deadline - now, w.keepAliveMs), w.signal);
    }
  }

  #sleep(id: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wake.off(id, done);
        this.#wake.off('*', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(ms, 1));
      this.#wake.once(id, done);
      this.#wake.once('*', done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** A decision was made elsewhere (another replica, pushed by the store): its waiters re-read it now. */
  wake(id: string): void {
    this.#wake.emit(id);
  }

  /** Stops holding: waiters return `closing` (their approvals stay pending in the store). */
  close(): void {
    this.#closing = true;
    this.#wake.emit('*');
  }

  async #move(row: ApprovalRow, to: ApprovalState, m: { actor: string; reason: string | null; expiresAt?: number }): Promise<boolean> {
    const from = sourcesOf(to).filter((s) => !isTerminal(s));
    const ok = await this.#o.repo.transition({ id: row.id, from, to, at: this.#o.clock.now(), actor: m.actor, reason: m.reason, expiresAt: m.expiresAt });
    if (ok) {
      this.#emit(`approval.${to}`, m.actor, row, { from: row.state, state: to, reason: m.reason, expires_at: m.expiresAt ?? null });
      this.#wake.emit(row.id);
    }
    return ok;
  }

  #model(model: string): string {
    return safeIdent(model, this.#hasher) ?? model;
  }

  #emit(kind: ApprovalAuditRecord['kind'], actor: string | null, row: ApprovalRow, extra: ApprovalAuditRecord['payload']): void {
    try {
      this.#o.emit?.({
        kind, subject: actor, refId: row.id,
        payload: {
          approval_id: row.id, rule_id: row.ruleId, requester: row.requester, model: row.model, mode: row.mode, scope: row.scope,
          policy_version: row.policyVersion, exchange_id: row.exchangeId, break_glass: row.breakGlass, ...extra,
        },
      });
    } catch {
      /* an emitter must not break a decision; the transition itself is already stored with its event row */
    }
  }
}
