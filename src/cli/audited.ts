import { hostname, userInfo } from 'node:os';
import { AuditLog } from '../audit/log.ts';
import { auditAdminAction, type AdminAction } from '../audit/runtime.ts';
import { openAuditRepo } from '../store/audit-repo.ts';
import type { StoreSession } from './context.ts';

/** The CLI's own chain in the audit trail (one writer per host): operators acting on the store directly. */
export function cliWriterId(): string {
  return `cli-${hostname().replace(/[^A-Za-z0-9._:-]/g, '-')}`.slice(0, 128);
}

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
    await auditAdminAction(log, { actor: `cli:${userInfo().username}`, ...a });
  } finally {
    await log.close();
  }
}
