import { readFile } from 'node:fs/promises';
import { GatewayError } from '../core/errors.ts';
import { errorName, type GatewayLogger } from '../core/logger.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import { policySourceHash, type IntegrityProblem, type PolicyActivation, type PolicyLedger, type PolicyMode, type PolicyRepo, type PolicyVersionRecord } from '../policy/versions.ts';
import type { ExchangeGuard } from '../proxy/guard.ts';
import type { PolicyLoader } from './policy-service.ts';

export interface PolicyRuntimeOptions {
  repo: PolicyRepo;
  logger: GatewayLogger;
  load: PolicyLoader;
  /** Swaps the pipeline's guard (in-flight exchanges keep the one they started with). */
  setGuard(guard: ExchangeGuard): void;
  /** The guard of one compiled version: content controls + the policy decider + hooks. */
  guardFor(policy: LoadedPolicy, mode: PolicyMode): ExchangeGuard;
  /** How often replicas look for an activation made elsewhere (ms); 0 disables polling. */
  pollIntervalMs: number;
  /** Laptop mode: the policy is this file (re-read when it changes), not the store's active version. */
  file?: string | undefined;
  /** Checks each activation against the audit trail before its version is compiled (docs/policies.md#integrity). */
  ledger?: PolicyLedger | undefined;
}

export interface PolicyRuntimeState {
  source: 'none' | 'store' | 'file';
  versionId: string | null;
  mode: PolicyMode;
  /** Set when the active version cannot be compiled (requests are refused). */
  error: string | null;
}

export interface PolicyRuntime {
  /** Loads the active version (or the file) and installs its guard. Throws when a policy file is invalid at start. */
  start(): Promise<void>;
  /** Re-reads the active version now (the admin API calls it after an activation on this replica). */
  refresh(): Promise<void>;
  state(): PolicyRuntimeState;
  close(): void;
}

/**
 * Keeps the gateway's guard in step with the active policy version: compiled once per version, swapped
 * atomically. Without any policy the existing open guard stays. A version that cannot be compiled installs a
 * guard that refuses every request (fail closed) until a good version is activated.
 */
export function createPolicyRuntime(o: PolicyRuntimeOptions): PolicyRuntime {
  let seen = '';
  let state: PolicyRuntimeState = { source: 'none', versionId: null, mode: 'enforce', error: null };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const install = (key: string, s: Omit<PolicyRuntimeState, 'error'>, compile: () => LoadedPolicy): void => {
    seen = key;
    try {
      o.setGuard(o.guardFor(compile(), s.mode));
      state = { ...s, error: null };
      o.logger.info({ event: 'policy_activated', policy_version: s.versionId, mode: s.mode });
    } catch (err) {
      state = { ...s, error: err instanceof Error ? err.message : String(err) };
      o.setGuard(unavailableGuard(s.versionId));
      o.logger.error({ event: 'policy_unavailable', policy_version: s.versionId, error_name: errorName(err) }, 'the active policy version cannot be compiled: every request is refused until a valid version is activated');
    }
  };

  const fromStore = async (): Promise<void> => {
    const a = await o.repo.active();
    if (!a) return;
    const key = `store:${a.seq}`;
    if (key === seen) return;
    const v = await o.repo.get(a.versionId);
    const problem = v && (await integrityProblem(v, a, o.ledger));
    if (v && problem) {
      o.logger.error({ event: 'policy_integrity_failed', policy_version: v.id, reason: problem }, 'the active policy version failed its integrity check: every request is refused until a valid version is activated');
      o.ledger?.onFailure({ versionId: v.id, number: v.number, problem, during: 'load' });
    }
    install(key, { source: 'store', versionId: a.versionId, mode: a.mode }, () => {
      if (!v) throw new Error(`active version ${a.versionId} is missing from the store`);
      if (problem) throw new Error(`version v${v.number} failed its integrity check (${problem}); it is not enforced`);
      return o.load(v.source, `v${v.number}`, v.id);
    });
  };

  const fromFile = async (file: string, atStart: boolean): Promise<void> => {
    const text = await readFile(file, 'utf8');
    const id = `file:${policySourceHash(text).slice(0, 12)}`;
    if (id === seen) return;
    if (atStart) o.load(text, file, id); // an invalid file stops the start with its line-numbered errors
    install(id, { source: 'file', versionId: id, mode: 'enforce' }, () => o.load(text, file, id));
  };

  const refresh = (): Promise<void> => {
    // One refresh at a time: a slow store read never races a newer one into an older guard.
    running ??= (o.file ? fromFile(o.file, false) : fromStore()).finally(() => (running = undefined));
    return running;
  };

  return {
    async start() {
      if (o.file) await fromFile(o.file, true);
      else await fromStore();
      if (o.pollIntervalMs > 0) {
        timer = setInterval(() => {
          refresh().catch((err: unknown) => o.logger.warn({ event: 'policy_poll_failed', error_name: errorName(err) }, 'could not check the active policy version; keeping the current one'));
        }, o.pollIntervalMs);
        timer.unref();
      }
    },
    refresh,
    state: () => state,
    close() {
      if (timer) clearInterval(timer);
    },
  };
}

/**
 * Whether a stored version may be enforced: its text must still hash to the recorded SHA-256, and (with a ledger)
 * the activation must be the one the audit trail chained for exactly that text.
 */
async function integrityProblem(v: PolicyVersionRecord, a: PolicyActivation, ledger: PolicyLedger | undefined): Promise<IntegrityProblem | undefined> {
  if (policySourceHash(v.source) !== v.hash) return 'hash_mismatch';
  return ledger?.checkActivation({ versionId: v.id, hash: v.hash, mode: a.mode, action: a.action, at: a.at, by: a.by });
}

/** Installed when the active version cannot be compiled: refuses every request, lists no models. */
export function unavailableGuard(versionId: string | null): ExchangeGuard {
  return {
    async inspectRequest(ctx) {
      ctx.decision = {
        decisionId: `dec_${ctx.id.slice(3)}`, effect: 'deny', enforced: true, matchedRuleIds: [], policyVersion: versionId,
        reasons: [{ code: 'policy_unavailable' }],
      };
      throw new GatewayError('evaluation_error', `The active policy version ${versionId ?? ''} cannot be evaluated; requests are refused until an administrator activates a valid version.`);
    },
    responseTransformer: () => undefined,
    filterModels: () => [],
  };
}
