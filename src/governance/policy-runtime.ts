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
  /** Set when the active version cannot be compiled or fails its integrity check (requests are refused). */
  error: string | null;
}

export interface PolicyRuntime {
  /** Loads the active version (or the file) and installs its guard. Throws when a policy file is invalid at start. */
  start(): Promise<void>;
  /** Re-reads the active version now (the admin API calls it after an activation on this replica); rejects on a store read error, keeping the current guard. */
  refresh(): Promise<void>;
  state(): PolicyRuntimeState;
  close(): void;
}

/**
 * Keeps the gateway's guard in step with the active policy version: compiled once per version, swapped
 * atomically. Without any policy the existing open guard stays. A version that cannot be compiled, or whose
 * integrity check fails, installs a guard that refuses every request (fail closed). A store activation is only
 * settled once its guard is installed: a refused one is checked again on every refresh and poll (the failure may
 * have been transient), reported once per activation and problem. A store read that fails installs nothing: the
 * current guard stays and the refresh rejects (the poll logs `policy_poll_failed`).
 */
export function createPolicyRuntime(o: PolicyRuntimeOptions): PolicyRuntime {
  /** The activation (`store:<seq>`) or file (`file:<hash>`) that is settled: not read or checked again. */
  let seen = '';
  /** The key whose refusing guard is installed (swapped in once, not on every poll). */
  let refusing: string | undefined;
  const reported = onceEach();
  let state: PolicyRuntimeState = { source: 'none', versionId: null, mode: 'enforce', error: null };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;

  /** Installs the version's guard, or the refusing one when it cannot be compiled; returns whether it compiled. */
  const install = (key: string, s: Omit<PolicyRuntimeState, 'error'>, compile: () => LoadedPolicy): boolean => {
    let guard: ExchangeGuard;
    try {
      guard = o.guardFor(compile(), s.mode);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      if (refusing !== key) o.setGuard(unavailableGuard(s.versionId));
      refusing = key;
      state = { ...s, error };
      if (reported(key, `unavailable:${error}`)) {
        o.logger.error({ event: 'policy_unavailable', policy_version: s.versionId, error_name: errorName(err) }, 'the active policy version cannot be compiled: every request is refused until a valid version is activated');
      }
      return false;
    }
    o.setGuard(guard);
    refusing = undefined;
    state = { ...s, error: null };
    o.logger.info({ event: 'policy_activated', policy_version: s.versionId, mode: s.mode });
    return true;
  };

  const fromStore = async (): Promise<void> => {
    // A read that throws (busy, timeout, connection) rejects here, before anything is installed.
    const a = await o.repo.active();
    if (!a) return;
    const key = `store:${a.seq}`;
    if (key === seen) return;
    const v = await o.repo.get(a.versionId);
    const problem = v && (await integrityProblem(v, a, o.ledger));
    if (v && problem && reported(key, problem)) {
      o.logger.error({ event: 'policy_integrity_failed', policy_version: v.id, reason: problem }, 'the active policy version failed its integrity check: every request is refused until a valid version is activated');
      o.ledger?.onFailure({ versionId: v.id, number: v.number, problem, during: 'load' });
    }
    const ok = install(key, { source: 'store', versionId: a.versionId, mode: a.mode }, () => {
      if (!v) throw new Error(`active version ${a.versionId} is missing from the store`);
      if (problem) throw new Error(`version v${v.number} failed its integrity check (${problem}); it is not enforced`);
      return o.load(v.source, `v${v.number}`, v.id);
    });
    // Only an installed version is settled: a refused activation is read and checked again next time.
    if (ok) seen = key;
  };

  const fromFile = async (file: string, atStart: boolean): Promise<void> => {
    const text = await readFile(file, 'utf8');
    const id = `file:${policySourceHash(text).slice(0, 12)}`;
    if (id === seen) return;
    if (atStart) o.load(text, file, id); // an invalid file stops the start with its line-numbered errors
    // The key is the text's hash: compiling the same text again cannot succeed, so a refused file is settled too.
    install(id, { source: 'file', versionId: id, mode: 'enforce' }, () => o.load(text, file, id));
    seen = id;
  };

  const once = (): Promise<void> => (o.file ? fromFile(o.file, false) : fromStore());
  const refresh = (): Promise<void> => {
    // One refresh at a time: a slow store read never races a newer one into an older guard. A refresh asked for
    // while one runs (the admin API's, right after an activation, during a poll that read the store before it)
    // runs again after it, so it sees what was written before it was asked for; later askers share that rerun.
    if (!running) {
      running = once().finally(() => (running = undefined));
      return running;
    }
    queued ??= running.catch(() => undefined).then(() => {
      queued = undefined;
      return refresh();
    });
    return queued;
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

/** `reported(key, what)` is true the first time for this key (a new key forgets the previous one's). */
function onceEach(): (key: string, what: string) => boolean {
  let current = '';
  const seen = new Set<string>();
  return (key, what) => {
    if (key !== current) {
      current = key;
      seen.clear();
    }
    if (seen.has(what)) return false;
    seen.add(what);
    return true;
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
