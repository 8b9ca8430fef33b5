import { approvalRoutes } from '../admin/approval-routes.ts';
import type { Authenticate } from '../admin/http.ts';
import { policyRoutes } from '../admin/policy-routes.ts';
import { templateRoutes } from '../admin/template-routes.ts';
import { usageRoutes } from '../admin/usage-routes.ts';
import { createApprovals, type ApprovalsModule } from '../approvals/index.ts';
import { approvalPolicyHook } from '../approvals/policy-hook.ts';
import type { ApprovalAuditRecord } from '../approvals/service.ts';
import type { ExchangeObserver } from '../audit/exchange-observer.ts';
import type { Config } from '../config/schema.ts';
import { resolveSecretRef } from '../config/secrets.ts';
import type { Clock } from '../core/clock.ts';
import { errorName, type GatewayLogger } from '../core/logger.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { loadNameRecognizer } from '../detect/ner/index.ts';
import { budgetPolicyHook, validateBudgetsSection } from '../governance/budget-hook.ts';
import { startPolicyModule, type PolicyModule } from '../governance/policy-module.ts';
import { PolicySimulator } from '../governance/policy-simulate.ts';
import { templatePreparer } from '../governance/template-preparer.ts';
import type { Route } from '../http/route.ts';
import { BudgetEnforcer, createUsageObserver } from '../policy/budgets/index.ts';
import { TemplateResolver } from '../policy/templates/index.ts';
import type { ExchangeGuard } from '../proxy/guard.ts';
import type { RouteTable } from '../proxy/routes.ts';
import { openApprovalRepo } from '../store/approval-repo.ts';
import { budgetCountersFor } from '../store/budget-counters.ts';
import { openPolicyRepo } from '../store/policy-repo.ts';
import type { PolicyLedger } from '../policy/versions.ts';
import type { Store } from '../store/ports.ts';
import { templateRepoFor } from '../store/template-repo.ts';

export interface Governance {
  policy: PolicyModule;
  approvals: ApprovalsModule;
  enforcer: BudgetEnforcer;
  /** Budget usage from the tokens each exchange really used. */
  observers: ExchangeObserver[];
  routes(authenticate: Authenticate): Route[];
  close(): Promise<void>;
}

/**
 * The deciding side of the gateway, wired into one decision per exchange: the active policy version compiles into
 * the guard (docs/policies.md); templates render before detection; after the engine decides, the approvals hook
 * holds or defers `require_approval`, then the budgets hook counts what will go out. Each is fail closed.
 */
export async function startGovernance(o: {
  config: Config; store: Store; keyring: Keyring; clock: Clock; logger: GatewayLogger; baseDir: string; env: NodeJS.ProcessEnv; routes: RouteTable;
  setGuard: (guard: ExchangeGuard) => void;
  /** Base of approval links (known once the gateway listens). */
  publicUrl: () => string;
  recordApproval: (r: ApprovalAuditRecord) => void;
  /** Binds policy activations to the audit trail (src/audit/policy-ledger.ts). */
  policyLedger?: PolicyLedger;
}): Promise<Governance> {
  // The names recognizer's package is an optional dependency: loaded only when enabled, and a missing package
  // stops the start with NameRecognizerUnavailable (never a gateway that silently does not look for names).
  const names = o.config.detection.names?.enabled ? await loadNameRecognizer() : undefined;
  const now = () => o.clock.now();
  const enforcer = new BudgetEnforcer({ counters: budgetCountersFor(o.store), now });
  const templateRepo = templateRepoFor(o.store);
  const templates = new TemplateResolver({ repo: templateRepo, now });
  const approvals = await createApprovals({
    repo: openApprovalRepo(o.store), keyring: o.keyring, clock: o.clock, publicUrl: o.publicUrl, config: o.config.approvals, emit: o.recordApproval,
    baseDir: o.baseDir, env: o.env,
    onWebhookError: (e) => o.logger.warn({ event: 'approval_webhook_failed', count: e.attempt, status: e.status ?? undefined }, 'approval webhook delivery failed'),
  });
  const ext = o.config.detection.external;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(ext?.headers ?? {})) headers[k] = await resolveSecretRef(v, { baseDir: o.baseDir, env: o.env });
  const policy = await startPolicyModule({
    external: ext && { ...ext, headers }, names,
    repo: openPolicyRepo(o.store), tokenVault: o.store.tokenVault, keyring: o.keyring, clock: o.clock, logger: o.logger,
    setGuard: o.setGuard, resolveRoute: (model, family) => o.routes.resolve(model, family), baseDir: o.baseDir, config: o.config.policy,
    sections: { budgets: validateBudgetsSection },
    hooks: [approvalPolicyHook(approvals.gate), budgetPolicyHook(enforcer)],
    prepare: templatePreparer(templates),
    ledger: o.policyLedger,
  });
  const simulator = new PolicySimulator({ exchanges: o.store.exchanges, service: policy.service, load: policy.load, keyring: o.keyring });
  // Expired budget counters and tokenization mappings (sealed PII) are deleted, not just ignored.
  const purge = setInterval(() => {
    enforcer.purgeExpired().catch((err: unknown) => o.logger.warn({ event: 'budget_purge_failed', error_name: errorName(err) }, 'expired budget counters could not be purged'));
    o.store.tokenVault.purgeExpired(o.clock.now()).catch((err: unknown) => o.logger.warn({ event: 'token_vault_purge_failed', error_name: errorName(err) }, 'expired tokenization mappings could not be purged'));
  }, 60_000);
  purge.unref();
  return {
    policy, approvals, enforcer,
    observers: [createUsageObserver(enforcer)],
    routes: (authenticate) => [
      ...policyRoutes({ service: policy.service, runtime: policy.runtime, simulator, authenticate, clock: o.clock }),
      ...approvalRoutes({ approvals: approvals.service, keyring: o.keyring, authenticate }),
      ...usageRoutes({ enforcer, authenticate }),
      ...templateRoutes({ templates: templateRepo, clock: o.clock, authenticate }),
    ],
    async close() {
      clearInterval(purge);
      policy.runtime.close();
      await approvals.close();
    },
  };
}
