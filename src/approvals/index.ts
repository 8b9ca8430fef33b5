import { resolveSecretRef, SecretRefError } from '../config/secrets.ts';
import type { Clock } from '../core/clock.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { ApprovalRepo } from './repo.ts';
import { APPROVALS_DEFAULTS, type ApprovalsConfig } from './config-schema.ts';
import { createApprovalGate, type ApprovalGate } from './gate.ts';
import { createWebhookNotifier, type WebhookTarget } from './notifier.ts';
import { ApprovalService, type ApprovalAuditRecord } from './service.ts';

export interface ApprovalsModuleOptions {
  repo: ApprovalRepo;
  keyring: Keyring;
  clock: Clock;
  /** Base of links (config `server.public_url`, else the gateway's own URL). */
  publicUrl: () => string;
  config?: ApprovalsConfig;
  /** Every transition and refusal (wire to the audit log / event outbox). */
  emit?: (r: ApprovalAuditRecord) => void;
  onWebhookError?: (e: { url: string; attempt: number; status: number | null }) => void;
  /** For secret references in `webhooks[].headers` (`env:NAME`, `file:PATH` relative to `baseDir`, `${NAME}`). */
  baseDir: string;
  env: NodeJS.ProcessEnv;
}

export interface ApprovalsModule {
  service: ApprovalService;
  gate: ApprovalGate;
  /** Held requests stop waiting (their approvals stay pending); the expiry sweeper stops; webhooks drain. */
  close(): Promise<void>;
}

/**
 * Webhook targets with their header values resolved once (src/config/secrets.ts): an unset variable or unreadable
 * file fails the start, naming the header but never a value.
 */
export async function resolveWebhooks(webhooks: ApprovalsConfig['webhooks'], secrets: { baseDir: string; env: NodeJS.ProcessEnv }): Promise<WebhookTarget[]> {
  return Promise.all(webhooks.map(async (w, i) => {
    if (!w.headers) return { ...w };
    const headers: Record<string, string> = {};
    for (const [name, ref] of Object.entries(w.headers)) {
      try {
        headers[name] = await resolveSecretRef(ref, secrets);
      } catch (err) {
        throw new SecretRefError(`approvals.webhooks[${i}].headers.${name}: ${(err as Error).message}`);
      }
    }
    return { ...w, headers };
  }));
}

/**
 * One factory for the composition root: service + gate + webhook notifier + expiry sweeper (admin routes:
 * src/admin/approval-routes.ts). Async because webhook header values are secret references resolved at start.
 */
export async function createApprovals(o: ApprovalsModuleOptions): Promise<ApprovalsModule> {
  const config = o.config ?? APPROVALS_DEFAULTS;
  const webhooks = await resolveWebhooks(config.webhooks, { baseDir: o.baseDir, env: o.env });
  const notifier = webhooks.length ? createWebhookNotifier({ webhooks, onError: o.onWebhookError }) : undefined;
  let base = '';
  const service = new ApprovalService({
    repo: o.repo, keyring: o.keyring, clock: o.clock, emit: o.emit, notifier, pollMs: config.poll_ms,
    get publicUrl() {
      return base || (base = o.publicUrl());
    },
  });
  const gate = createApprovalGate({ service, clock: o.clock, maxHoldMs: config.max_hold_seconds * 1000, keepAliveMs: config.keep_alive_seconds * 1000 });
  const sweeper = setInterval(() => void service.expireDue().catch(() => undefined), config.sweep_interval_seconds * 1000);
  sweeper.unref();
  return {
    service, gate,
    async close() {
      clearInterval(sweeper);
      service.close();
      await notifier?.idle();
    },
  };
}
