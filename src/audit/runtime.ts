import { hostname } from 'node:os';
import type { Clock } from '../core/clock.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { AuditConfig } from './config-schema.ts';
import type { ExchangeObserver } from './exchange-observer.ts';
import { AuditLog } from './log.ts';
import { createAuditObserver } from './observer.ts';
import type { AuditRepo, PurgeResult } from './repo.ts';

const DAY_MS = 86_400_000;

export const AUDIT_DEFAULTS: AuditConfig = {
  checkpoint_interval_ms: 60_000, checkpoint_every_entries: 1000, session_gap_ms: 1_800_000,
  retention: { bodies_days: 0, metadata_days: 0, purge_interval_ms: 3_600_000 },
};

export interface AuditRuntimeOptions {
  repo: AuditRepo;
  keyring: Keyring;
  clock: Clock;
  /** Overrides `config.writer_id`; default `<host name>-<pid>` (defaultWriterId). */
  writerId?: string;
  config?: AuditConfig;
  /** Reports a failed retention run (the job keeps running); never receives content. */
  onPurgeError?(err: unknown): void;
}

export interface AuditRuntime {
  /** Register FIRST among the recorder's observers: no chain entry, no request upstream. */
  observer: ExchangeObserver;
  log: AuditLog;
  repo: AuditRepo;
  /** One retention run now (the periodic job calls this); the run itself is chained as `retention.purged`. */
  purge(): Promise<PurgeResult>;
  /** Stops the timers and signs the final checkpoint. */
  close(): Promise<void>;
}

/**
 * The default writer id: `<host name>-<pid>`, sanitized to the writer-id alphabet. The process id keeps replicas
 * on one host apart (a fleet of processes, compose with host networking); in a container it is 1, and the host
 * name is the container's (the pod name on Kubernetes), so a restarted container continues its chain.
 */
export function defaultWriterId(): string {
  const host = hostname().replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 100) || 'gateway';
  return `${host}-${process.pid}`;
}

/**
 * Composition helper for the audit trail: the chain (AuditLog with periodic signed checkpoints), the exchange
 * observer that chains every exchange and assigns sessions, and the retention job per content class.
 */
export async function createAuditRuntime(o: AuditRuntimeOptions): Promise<AuditRuntime> {
  const c = o.config ?? AUDIT_DEFAULTS;
  const log = await AuditLog.open({
    repo: o.repo, keyring: o.keyring, clock: o.clock, writerId: o.writerId ?? c.writer_id ?? defaultWriterId(),
    checkpointIntervalMs: c.checkpoint_interval_ms, checkpointEveryEntries: c.checkpoint_every_entries,
  });
  const observer = createAuditObserver({ log, repo: o.repo, keyring: o.keyring, sessionGapMs: c.session_gap_ms });
  const unchained: RetentionRecord[] = [];
  const purge = (): Promise<PurgeResult> => runRetention({ repo: o.repo, log, now: o.clock.now(), retention: c.retention, unchained });
  let timer: NodeJS.Timeout | undefined;
  if (c.retention.bodies_days > 0 || c.retention.metadata_days > 0) {
    timer = setInterval(() => void purge().catch((err: unknown) => o.onPurgeError?.(err)), c.retention.purge_interval_ms);
    timer.unref();
  }
  return {
    observer, log, repo: o.repo, purge,
    async close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await log.close();
    },
  };
}

/** What a retention run chains as `retention.purged` (keys in canonical order). */
export interface RetentionRecord {
  [k: string]: number | null;
  bodies_before: number | null;
  bodies_purged: number;
  exchanges_deleted: number;
  held_prompts_purged: number;
  metadata_before: number | null;
  /** The date of every tombstone this run wrote: verification ties each tombstone to a chained run by it. */
  purged_at: number;
  tombstones: number;
}

/**
 * One retention run: bodies older than `bodies_days` are purged behind tombstones (with the held prompts of
 * approvals decided before then), metadata older than `metadata_days` deleted. The chain entries stay (they hold
 * only digests and metadata), so the trail still verifies; the run itself is chained, and verification accepts a
 * tombstone only when a chained run dated it and the exchange started before that run's cutoff. A run whose entry
 * could not be appended is kept in `unchained` and appended before the next run.
 */
export async function runRetention(o: {
  repo: AuditRepo; log: AuditLog; now: number; retention: AuditConfig['retention']; unchained?: RetentionRecord[];
}): Promise<PurgeResult> {
  const pending = o.unchained ?? [];
  // Each record leaves `pending` only once it is chained: one that fails stays for the next run.
  const chainPending = async (): Promise<void> => {
    for (; pending.length > 0; pending.shift()) await o.log.append({ kind: 'retention.purged', subject: 'system', payload: pending[0]! });
  };
  await chainPending();
  const r = o.retention;
  const bodiesBefore = r.bodies_days > 0 ? o.now - r.bodies_days * DAY_MS : null;
  const metadataBefore = r.metadata_days > 0 ? o.now - r.metadata_days * DAY_MS : null;
  if (bodiesBefore === null && metadataBefore === null) return { bodiesPurged: 0, exchangesDeleted: 0, heldPromptsPurged: 0, tombstones: 0 };
  const res = await o.repo.purge({ bodiesBefore, metadataBefore, now: o.now });
  const messages = res.messagesPurged ?? 0;
  if (res.bodiesPurged > 0 || res.exchangesDeleted > 0 || res.heldPromptsPurged > 0 || res.tombstones > 0 || messages > 0) {
    pending.push({
      bodies_before: bodiesBefore, bodies_purged: res.bodiesPurged, exchanges_deleted: res.exchangesDeleted, held_prompts_purged: res.heldPromptsPurged,
      // Only when a run removed deduplicated messages (their tombstones carry this run's date too).
      ...(messages > 0 ? { messages_purged: messages } : {}),
      metadata_before: metadataBefore, purged_at: o.now, tombstones: res.tombstones,
    });
    await chainPending();
  }
  return res;
}

export interface AdminAction {
  /** Subject of the authenticated principal. */
  actor: string;
  /** Stable verb, e.g. `keys.create`, `keys.revoke`, `credentials.set`, `session.view`, `policy.activate`. */
  action: string;
  /** What it acted on (an id or name; never a secret). */
  target: string | null;
  /** Extra non-secret facts (counts, ids). */
  details?: { [k: string]: string | number | boolean | null };
  /** A change: the id of the `admin.requested` entry chained before it was made. Views have none. */
  requestId?: string;
  /** A change: whether it was made. */
  outcome?: 'success' | 'failure';
}

/**
 * Chains the intent of an admin change before the change is made (`admin.requested`), so no change is ever made
 * that the trail does not show: if this rejects, the caller must not make it. Its outcome follows as
 * `admin.action` with the same `request_id`; a request without an outcome was interrupted (see docs/audit.md).
 */
export async function auditAdminRequest(log: AuditLog, a: { actor: string; action: string; target: string | null; requestId: string }): Promise<void> {
  await log.append({ kind: 'admin.requested', subject: a.actor, refId: a.target, payload: { action: a.action, request_id: a.requestId, target: a.target } });
}

/** Chains one admin action. Await it before answering: an action that cannot be recorded must fail (closed). */
export async function auditAdminAction(log: AuditLog, a: AdminAction): Promise<void> {
  const payload = {
    action: a.action, ...(a.outcome ? { outcome: a.outcome } : {}), ...(a.requestId ? { request_id: a.requestId } : {}), target: a.target, ...(a.details ?? {}),
  };
  await log.append({ kind: 'admin.action', subject: a.actor, refId: a.target, payload });
}
