import type { Clock } from '../core/clock.ts';
import { GatewayError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { diffLines } from '../policy/diff.ts';
import { PolicyError, type PolicyIssue } from '../policy/errors.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import { policySourceHash, type PolicyActivation, type PolicyLedger, type PolicyMode, type PolicyRepo, type PolicyVersionRecord } from '../policy/versions.ts';

/** Compiles a source (the loader with the section validators of the other modules, bound in the composition root). */
export type PolicyLoader = (source: string, file: string, version: string) => LoadedPolicy;

export interface PolicyServiceOptions {
  repo: PolicyRepo;
  clock: Clock;
  load: PolicyLoader;
  /** Max size of a policy source (bytes). */
  maxBytes?: number;
  /** Activations are chained in the audit trail before they are stored (docs/policies.md#integrity). */
  ledger?: PolicyLedger | undefined;
}

export interface VersionView extends Omit<PolicyVersionRecord, 'source'> {
  activatedAt: number[];
  active: boolean;
}

/**
 * Push, activate, rollback, history, show, diff — shared by the admin API and tests. Versions are immutable: a
 * push of identical text returns the existing version. Activation recompiles first, so a version that does not
 * compile is never made active.
 */
export class PolicyService {
  readonly #o: PolicyServiceOptions;
  constructor(o: PolicyServiceOptions) {
    this.#o = o;
  }

  validate(source: string, file = 'policy'): { valid: boolean; issues: PolicyIssue[] } {
    try {
      this.#o.load(this.#checkSize(source), file, 'candidate');
      return { valid: true, issues: [] };
    } catch (err) {
      if (err instanceof PolicyError) return { valid: false, issues: err.issues };
      throw err;
    }
  }

  async push(source: string, meta: { author: string; message: string }): Promise<{ version: PolicyVersionRecord; created: boolean }> {
    const check = this.validate(source);
    if (!check.valid) throw invalid(check.issues);
    const hash = policySourceHash(source);
    const existing = await this.#o.repo.getByHash(hash);
    if (existing) return { version: existing, created: false };
    const now = this.#o.clock.now();
    const version = await this.#o.repo.create({ id: newId('pv', now), hash, source, author: meta.author, message: meta.message, createdAt: now });
    return { version, created: true };
  }

  /** `pv_…`, `v3`, `3` or `active`. */
  async resolve(ref: string): Promise<PolicyVersionRecord> {
    let v: PolicyVersionRecord | undefined;
    if (ref === 'active') {
      const a = await this.#o.repo.active();
      v = a && (await this.#o.repo.get(a.versionId));
    } else if (/^v?\d{1,9}$/.test(ref)) v = await this.#o.repo.getByNumber(Number(ref.replace(/^v/, '')));
    else if (/^pv_[0-9A-Z]{26}$/.test(ref)) v = await this.#o.repo.get(ref);
    if (!v) throw new GatewayError('not_found', ref === 'active' ? 'No policy version is active.' : `No policy version ${ref.slice(0, 40)}.`);
    return v;
  }

  async activate(ref: string, o: { by: string; mode: PolicyMode }): Promise<{ version: PolicyVersionRecord; activation: PolicyActivation }> {
    const version = await this.resolve(ref);
    return { version, activation: await this.#activate(version, { ...o, action: 'activate' }) };
  }

  /** Back to the version that was active before the current one (repeatable: each rollback goes one further back). */
  async rollback(by: string): Promise<{ version: PolicyVersionRecord; activation: PolicyActivation }> {
    const log = (await this.#o.repo.activations(10_000)).reverse();
    const stack: PolicyActivation[] = [];
    for (const a of log) {
      if (a.action === 'rollback') stack.pop();
      else stack.push(a);
    }
    const target = stack.at(-2);
    if (!target) throw new GatewayError('conflict', 'There is no earlier activation to roll back to.');
    const version = await this.resolve(target.versionId);
    return { version, activation: await this.#activate(version, { by, mode: target.mode, action: 'rollback' }) };
  }

  async history(limit = 100): Promise<{ versions: VersionView[]; activations: PolicyActivation[] }> {
    const [versions, activations] = await Promise.all([this.#o.repo.list(limit), this.#o.repo.activations(1000)]);
    const current = activations[0]?.versionId;
    return {
      versions: versions.map((v) => ({
        ...v, active: v.id === current,
        activatedAt: activations.filter((a) => a.versionId === v.id).map((a) => a.at),
      })),
      activations,
    };
  }

  /** Diff of two stored versions, or of a stored version and a candidate source. */
  async diff(fromRef: string, to: { ref: string } | { source: string; label: string }): Promise<string> {
    const a = await this.resolve(fromRef);
    const b = 'ref' in to ? await this.resolve(to.ref) : undefined;
    const after = b ? b.source : (to as { source: string }).source;
    return diffLines(a.source, this.#checkSize(after), { a: `v${a.number} (${a.id})`, b: b ? `v${b.number} (${b.id})` : (to as { label: string }).label });
  }

  async #activate(version: PolicyVersionRecord, o: { by: string; mode: PolicyMode; action: PolicyActivation['action'] }): Promise<PolicyActivation> {
    if (policySourceHash(version.source) !== version.hash) {
      this.#o.ledger?.onFailure({ versionId: version.id, number: version.number, problem: 'hash_mismatch', during: 'activate' });
      throw new GatewayError('conflict', `Version v${version.number} no longer matches its recorded SHA-256 (its text was changed in the store); it was not activated.`);
    }
    try {
      this.#o.load(version.source, `v${version.number}`, version.id);
    } catch (err) {
      if (err instanceof PolicyError) throw invalid(err.issues, `Version v${version.number} does not compile with this gateway; it was not activated.`);
      throw err;
    }
    const at = this.#o.clock.now();
    if (this.#o.ledger) {
      // Chained before it is stored: an activation the trail does not show is never made (and never loaded).
      const current = await this.#o.repo.active();
      const previous = current && (await this.#o.repo.get(current.versionId));
      await this.#o.ledger.chainActivation({
        versionId: version.id, number: version.number, hash: version.hash, mode: o.mode, action: o.action, at, by: o.by,
        previous: previous ? { versionId: previous.id, hash: previous.hash } : null,
      });
    }
    return this.#o.repo.activate({ versionId: version.id, mode: o.mode, action: o.action, at, by: o.by });
  }

  #checkSize(source: string): string {
    if (Buffer.byteLength(source) > (this.#o.maxBytes ?? 1024 * 1024)) throw new GatewayError('body_too_large', 'The policy is too large.');
    return source;
  }
}

/** The issues travel in the message (admin API errors carry code + message), one per line, at most 20. */
function invalid(issues: PolicyIssue[], message = 'The policy is invalid.'): GatewayError {
  const lines = issues.slice(0, 20).map((i) => `\n  ${i.line ? `line ${i.line}: ` : ''}${i.path}: ${i.message}`).join('');
  return new GatewayError('invalid_request', `${message}${lines}`, { details: { issues } });
}
