import type { Clock } from '../core/clock.ts';
import { errorName, type GatewayLogger } from '../core/logger.ts';
import type { SecurityEvent } from '../events/types.ts';
import type { UpstreamCredentialRefused } from './pipeline.ts';

export interface CredentialAlertOptions {
  clock: Clock;
  logger: GatewayLogger;
  emit(ev: SecurityEvent): Promise<void>;
  /** One alert per provider and upstream status per window (a revoked key fails every request). */
  windowMs?: number;
}

/**
 * Tells the operator that a provider refused the gateway's provider credential: one `credential.refused` security
 * event (docs/events.md) and one log line per provider, status and window — never the key, never the provider's
 * answer. The event id is derived from the window, so replicas and retries de-duplicate in the outbox.
 */
export function credentialRefusedAlert(o: CredentialAlertOptions): (e: UpstreamCredentialRefused) => void {
  const windowMs = o.windowMs ?? 60_000;
  const lastWindow = new Map<string, number>();
  return (e) => {
    const window = Math.floor(o.clock.now() / windowMs);
    const key = `${e.provider}:${e.status}`;
    if (lastWindow.get(key) === window) return;
    lastWindow.set(key, window);
    o.logger.error({ event: 'upstream_credential_refused', provider: e.provider, status: e.status, exchange_id: e.exchangeId }, 'a provider refused the gateway\'s provider credential; check its key');
    o.emit({
      type: 'credential.refused', id: `credential.refused:${key}:${window}`, at: o.clock.now(),
      actor: { subject: 'system', kind: 'system' }, outcome: 'failure', reason: `upstream_${e.status}`,
      provider: e.provider, upstreamStatus: e.status,
    }).catch((err: unknown) => o.logger.warn({ event: 'credential_alert_failed', error_name: errorName(err) }, 'the credential alert could not be queued'));
  };
}
