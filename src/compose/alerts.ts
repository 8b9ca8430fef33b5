import type { Clock } from '../core/clock.ts';
import { errorName, type GatewayLogger } from '../core/logger.ts';
import type { Config } from '../config/schema.ts';
import { resolveSecretRef } from '../config/secrets.ts';
import { alertRoutes } from '../admin/alert-routes.ts';
import type { Authenticate } from '../admin/http.ts';
import { startAlertEvaluator, type AlertEvaluator } from '../alerts/evaluator.ts';
import { startSuspensions, type Suspensions } from '../alerts/suspensions.ts';
import type { AlertRepo, Firing } from '../alerts/types.ts';
import { createAlertWebhooks } from '../alerts/webhook.ts';
import type { CostOf } from '../analytics/fold.ts';
import type { Evidence } from './evidence.ts';
import type { Route } from '../http/route.ts';
import { openAlertRepo } from '../store/alerts-repo.ts';
import type { Store } from '../store/ports.ts';

export interface Alerts {
  repo: AlertRepo;
  evaluator: AlertEvaluator;
  suspensions: Suspensions;
  routes(authenticate: Authenticate): Route[];
  stop(): Promise<void>;
}

/** The SIEM copy of a firing: one per investigation, so a retried notice de-duplicates on its id. */
export function alertEvent(f: Firing, at: number): Parameters<Evidence['events']['emit']>[0] {
  return {
    id: `alert.fired:${f.id}`, type: 'alert.fired', at, actor: { subject: 'system', kind: 'system' },
    investigationId: f.id, ruleId: f.ruleId, ruleKind: f.kind, severity: f.severity, subject: f.subject, identity: f.identity,
    summary: f.summary, exchangeIds: f.exchangeIds, response: f.response,
  };
}

/**
 * Alert rules for main.ts (docs/alerts.md): the evaluator on the opened store, the suspension list the data path
 * consults, and the admin routes. Each firing is chained in the audit trail (`alert.fired`), emitted to the SIEM
 * sinks as an OCSF Incident Finding, and posted to the webhooks.
 */
export async function startAlerts(o: {
  config: Config; store: Store; clock: Clock; logger: GatewayLogger; evidence: Evidence; baseDir: string; env: NodeJS.ProcessEnv;
  prices(): { costMicros: CostOf }; publicUrl(): string;
}): Promise<Alerts> {
  const repo = openAlertRepo(o.store);
  const c = o.config.alerts;
  const webhooks = await Promise.all(c.webhooks.map(async (w) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(w.headers ?? {})) headers[k] = await resolveSecretRef(v, { baseDir: o.baseDir, env: o.env });
    return { ...w, headers };
  }));
  const poster = createAlertWebhooks({
    webhooks,
    links: (f) => ({ api: `${o.publicUrl()}/admin/v1/investigations/${f.id}`, console: `${o.publicUrl()}/console/#/investigations/${f.id}` }),
    onError: (e) => o.logger.warn({ event: 'alert_webhook_failed', count: e.attempt, status: e.status ?? undefined }, 'alert webhook delivery failed'),
  });
  const suspensions = startSuspensions({
    repo, refreshMs: c.suspension_refresh_ms,
    onError: (err) => o.logger.warn({ event: 'suspensions_refresh_failed', error_name: errorName(err) }, 'suspended identities could not be re-read; keeping the last list'),
  });
  await suspensions.refresh();
  const evaluator = startAlertEvaluator({
    repo, config: c,
    costOf: () => {
      const p = o.prices();
      return (model, input, output) => p.costMicros(model, input, output);
    },
    now: () => o.clock.now(),
    async notify(f) {
      // Ids, rule, subject and counts only: never content.
      await o.evidence.audit.log.append({
        kind: 'alert.fired', subject: 'system', refId: f.id,
        payload: { rule_id: f.ruleId, kind: f.kind, severity: f.severity, subject: f.subject, identity: f.identity, window: f.windowKey, exchange_ids: f.exchangeIds, response: f.response },
      });
      await o.evidence.events.emit(alertEvent(f, o.clock.now()));
      if (f.response !== 'none') await suspensions.refresh().catch(() => undefined);
      poster.send(f);
    },
    onError: (err, during) => o.logger.warn({ event: during === 'notify' ? 'alert_notify_failed' : 'alert_evaluation_failed', error_name: errorName(err) }, during === 'notify' ? 'an alert could not be notified; it is retried' : 'alert rules could not be evaluated; retrying'),
  });
  return {
    repo, evaluator, suspensions,
    routes: (authenticate) => alertRoutes({ repo, evaluator, suspensions, exchanges: o.store.exchanges, authenticate, now: () => o.clock.now() }),
    async stop() {
      suspensions.stop();
      await evaluator.stop();
      await poster.idle();
    },
  };
}
