import { hostname, userInfo } from 'node:os';
import { AuditLog } from '../audit/log.ts';
import { auditAdminAction, auditAdminRequest, type AdminAction } from '../audit/runtime.ts';
import { newId } from '../core/ids.ts';
import { openAuditRepo } from '../store/audit-repo.ts';
import type { StoreSession } from './context.ts';

/** The CLI's own chain in the audit trail (one writer per host): operators acting on the store directly. */
export function cliWriterId(): string {
  return `cli-${hostname().replace(/[^A-Za-z0-9._:-]/g, '-')}`.slice(0, 128);
}

/** Who the CLI's chain names as the actor: the operating-system user (self-asserted; SECURITY.md). */
export const cliActor = (): string => `cli:${userInfo().username}`;

export function openCliAuditLog(s: StoreSession): Promise<AuditLog> {
  return AuditLog.open({
    repo: openAuditRepo(s.store), keyring: s.keyring, clock: { now: Date.now, mono: () => performance.now() },
    writerId: cliWriterId(), checkpointIntervalMs: 0, checkpointEveryEntries: 1e9,
  });
}

/**
 * Chains one operator action taken through the CLI (viewing recorded bodies, exporting the trail) as
 * `cli:<os user>`. Awaited before anything is shown: an action that cannot be recorded fails (closed).
 */
export async function chainCliAction(s: StoreSession, a: Omit<AdminAction, 'actor'>): Promise<void> {
  const log = await openCliAuditLog(s);
  try {
    await auditAdminAction(log, { actor: cliActor(), ...a });
  } finally {
    await log.close();
  }
}

type Details = NonNullable<AdminAction['details']>;

/**
 * Makes one operator change on the store directly (keys, service accounts, provider credentials, templates)
 * between its chained intent and its chained outcome, as `cli:<os user>` — like the admin API does: if the intent
 * cannot be chained the change is not made; then the outcome (`success` with what it made, or `failure`).
 * `change` returns whether it was made (a revoke of an unknown key was not), its target and safe facts.
 */
export async function chainedCliChange<T>(
  s: StoreSession,
  a: { action: string; target: string | null },
  change: () => Promise<{ value: T; made: boolean; target?: string; details?: Details }>,
): Promise<T> {
  const log = await openCliAuditLog(s);
  const actor = cliActor();
  const requestId = newId('adm');
  try {
    await auditAdminRequest(log, { actor, ...a, requestId });
    let r: Awaited<ReturnType<typeof change>>;
    try {
      r = await change();
    } catch (err) {
      // The change's own error is what the operator needs; an outcome that cannot be chained leaves the intent
      // alone in the trail, which reads as "interrupted" (docs/audit.md).
      await auditAdminAction(log, { actor, ...a, requestId, outcome: 'failure' }).catch(() => undefined);
      throw err;
    }
    await auditAdminAction(log, { actor, action: a.action, target: r.target ?? a.target, requestId, outcome: r.made ? 'success' : 'failure', ...(r.details ? { details: r.details } : {}) });
    return r.value;
  } finally {
    await log.close();
  }
}
