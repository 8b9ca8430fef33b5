import type { Clock } from '../core/clock.ts';
import { errorName, type GatewayLogger } from '../core/logger.ts';
import type { Config } from '../config/schema.ts';
import { analyticsRoutes } from '../admin/analytics-routes.ts';
import type { Authenticate } from '../admin/http.ts';
import type { CostOf } from '../analytics/fold.ts';
import { startAnalyticsRoller, type AnalyticsRoller } from '../analytics/roller.ts';
import type { AnalyticsRepo } from '../analytics/types.ts';
import type { Route } from '../http/route.ts';
import { openAnalyticsRepo } from '../store/analytics-repo.ts';
import type { Store } from '../store/ports.ts';

export interface Analytics {
  repo: AnalyticsRepo;
  roller: AnalyticsRoller;
  routes(authenticate: Authenticate): Route[];
  stop(): Promise<void>;
}

/** Usage analytics for main.ts: the rollup repo on the opened store, the roller, and the admin routes. */
export function startAnalytics(o: { config: Config; store: Store; clock: Clock; logger: GatewayLogger; prices(): { costMicros: CostOf } }): Analytics {
  const repo = openAnalyticsRepo(o.store);
  const roller = startAnalyticsRoller({
    repo, config: o.config.analytics,
    // The active policy version's price table (budgets.prices), read per batch.
    costOf: () => {
      const p = o.prices();
      return (model, input, output) => p.costMicros(model, input, output);
    },
    now: () => o.clock.now(),
    onError: (err) => o.logger.warn({ event: 'analytics_roll_failed', error_name: errorName(err) }, 'usage rollups could not be updated; retrying'),
  });
  return {
    repo, roller,
    routes: (authenticate) => analyticsRoutes({ repo, roller, authenticate, now: () => o.clock.now() }),
    stop: () => roller.stop(),
  };
}
