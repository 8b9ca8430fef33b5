import { resolve } from 'node:path';
import { sealClaims } from '../audit/claims-snapshot.ts';
import type { Clock } from '../core/clock.ts';
import type { GatewayLogger } from '../core/logger.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { DetectionConfig } from '../detect/config-schema.ts';
import { createPresidioRecognizer, prescanRequest } from '../detect/external.ts';
import type { Detector } from '../detect/detectors/types.ts';
import { compileContentPolicy, validateContentSection } from '../detect/policy-content.ts';
import { loadPolicy, type LoadedPolicy, type SectionValidator } from '../policy/load.ts';
import type { PolicyLedger, PolicyMode, PolicyRepo } from '../policy/versions.ts';
import type { Family } from '../proxy/endpoints.ts';
import type { ExchangeGuard } from '../proxy/guard.ts';
import type { ResolvedRoute } from '../proxy/routes.ts';
import type { TokenVaultRepo } from '../store/ports.ts';
import { checkApprovalOptions } from './policy-checks.ts';
import { createGovernedGuard, type ContentPolicy, type RequestPreparer } from './guard.ts';
import { attachMcpVersion } from './mcp-version.ts';
import { approvalRequirements } from '../approvals/policy-hook.ts';
import { createPolicyDecider, type PolicyHookFactory } from './policy-decider.ts';
import { createPolicyRuntime, type PolicyRuntime } from './policy-runtime.ts';
import { PolicyService, type PolicyLoader } from './policy-service.ts';
import { SealedTokenVault } from './token-vault.ts';

type ExternalConfig = NonNullable<DetectionConfig['external']>;

export interface PolicyModuleOptions {
  repo: PolicyRepo;
  tokenVault: TokenVaultRepo;
  keyring: Keyring;
  clock: Clock;
  logger: GatewayLogger;
  setGuard(guard: ExchangeGuard): void;
  resolveRoute: (model: string, family: Family) => ResolvedRoute | undefined;
  /** Relative `policy.file` paths resolve against it (the config file's directory). */
  baseDir: string;
  /** config `policy:` */
  config?: { file?: string | undefined; poll_interval_ms?: number; token_ttl_ms?: number } | undefined;
  /** The `content:` section's validator + compiler; default: the detection module's (src/detect/policy-content.ts). */
  content?: { validate: SectionValidator; compile(section: Record<string, unknown> | undefined): ContentPolicy | undefined };
  /** Validators of the `budgets:` / `templates:` sections (their modules own them). */
  sections?: Partial<Record<'budgets', SectionValidator>>;
  /** Budget, template and approval hooks, built once per compiled version. */
  hooks?: readonly PolicyHookFactory[];
  /** config `detection.external` (secret header values already resolved). */
  external?: ExternalConfig | undefined;
  /** The names recognizer when config `detection.names.enabled` (loaded at start, src/detect/ner/). */
  names?: Detector | undefined;
  /** Runs before detection on every exchange under a policy (prompt templates are rendered here). */
  prepare?: RequestPreparer;
  /** Binds activations to the audit trail (src/audit/policy-ledger.ts); without it only the text's hash is checked. */
  ledger?: PolicyLedger | undefined;
}

/**
 * The detection module's `content:` section. A section that asks for external entities needs the gateway's
 * recognizer (config `detection.external`): without one the version is refused at push, never silently unscanned.
 */
function detectionContent(external: ExternalConfig | undefined, names: Detector | undefined): NonNullable<PolicyModuleOptions['content']> {
  const opts = { extraDetectors: names ? [names] : [] };
  return {
    validate: (section) => {
      const issues = validateContentSection(section, opts);
      const asks = typeof section === 'object' && section !== null && 'external' in section;
      if (asks && !external) issues.push({ path: 'external', message: 'this gateway has no external recognizer (config detection.external.url)' });
      return issues;
    },
    // No `content:` section: no scanning (the policy decides on access only).
    compile: (section) => {
      if (section === undefined) return undefined;
      const compiled = compileContentPolicy(section, opts);
      if (!compiled.external) return compiled;
      if (!external) throw new Error('the content section asks for external entities but no recognizer is configured (detection.external)');
      const recognizer = createPresidioRecognizer({
        url: external.url, timeoutMs: external.timeout_ms, language: external.language, headers: external.headers,
        cacheEntries: external.cache_entries, maxTexts: external.max_texts, maxChars: external.max_chars,
        entities: compiled.external.entities, minScore: compiled.external.minScore,
      });
      return { ...compiled, prescan: (api, body, base) => prescanRequest(api, body, base, recognizer) };
    },
  };
}

export interface PolicyModule {
  service: PolicyService;
  runtime: PolicyRuntime;
  load: PolicyLoader;
}

/**
 * Everything the composition root needs for policies: the loader (with the other modules' section validators),
 * the version service (admin API, CLI), and the runtime that installs the active version's guard.
 */
export async function startPolicyModule(o: PolicyModuleOptions): Promise<PolicyModule> {
  const content = o.content ?? detectionContent(o.external, o.names);
  const sections = { ...o.sections, content: content.validate };
  const load: PolicyLoader = (source, file, version) => loadPolicy(source, { file, version, sections, ruleChecks: [checkApprovalOptions] });
  const vault = new SealedTokenVault({ repo: o.tokenVault, keyring: o.keyring, clock: o.clock, ttlMs: o.config?.token_ttl_ms ?? 3_600_000 });
  const guardFor = (policy: LoadedPolicy, mode: PolicyMode): ExchangeGuard => {
    const hooks = (o.hooks ?? []).map((f) => f(policy.engine)).filter((h) => h !== undefined);
    const compiled = content.compile(policy.document.content);
    const guard = createGovernedGuard({
      content: compiled,
      decider: createPolicyDecider({ engine: policy.engine, mode, resolveRoute: o.resolveRoute, hooks, sealClaims: (id, claims) => sealClaims(o.keyring, id, claims) }),
      vault,
      prepare: o.prepare,
    });
    const approvals = approvalRequirements({ document: { rules: policy.document.mcp?.rules ?? [] } });
    return attachMcpVersion(guard, { engine: policy.mcp, content: compiled, mode, version: policy.engine.version, approvals, vault });
  };
  const runtime = createPolicyRuntime({
    repo: o.repo, logger: o.logger, load, setGuard: (g) => o.setGuard(g), guardFor,
    pollIntervalMs: o.config?.poll_interval_ms ?? 5000, file: o.config?.file ? resolve(o.baseDir, o.config.file) : undefined, ledger: o.ledger,
  });
  await runtime.start();
  return { service: new PolicyService({ repo: o.repo, clock: o.clock, load, ledger: o.ledger }), runtime, load };
}
