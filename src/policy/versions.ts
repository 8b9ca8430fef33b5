import { createHash } from 'node:crypto';

/** Stored policy versions (the port; SQLite and PostgreSQL implement it). A pushed version is never changed. */
export type PolicyMode = 'enforce' | 'observe';

export interface PolicyVersionRecord {
  /** `pv_<time-ordered id>`. */
  id: string;
  /** 1, 2, 3 … in push order (`v3` in the CLI). */
  number: number;
  /** SHA-256 (hex) of the source text. */
  hash: string;
  /** The YAML exactly as pushed. */
  source: string;
  author: string;
  message: string;
  createdAt: number;
}

export interface PolicyActivation {
  /** Increases with every activation (replicas poll it to notice a change). */
  seq: number;
  versionId: string;
  mode: PolicyMode;
  action: 'activate' | 'rollback';
  at: number;
  by: string;
}

/** The recorded hash of a version: SHA-256 (hex) of its exact source text. */
export function policySourceHash(source: string): string {
  return createHash('sha256').update(source).digest('hex');
}

/** A version that failed its integrity check, for the security event and the trail (never its text). */
export interface IntegrityFailure {
  versionId: string;
  number: number;
  problem: IntegrityProblem;
  /** Where it was found: loading the active version, or an activation request. */
  during: 'load' | 'activate';
}

/** What an activation binds: the version, the SHA-256 of its text, and the activation row it becomes. */
export interface ActivationBinding {
  versionId: string;
  number: number;
  hash: string;
  mode: PolicyMode;
  action: PolicyActivation['action'];
  at: number;
  by: string;
  /** The version active before (null: none), so the trail reads as a chain of activations. */
  previous: { versionId: string; hash: string } | null;
}

/** Why a stored version or its activation cannot be trusted (closed vocabulary: records, events, errors). */
export type IntegrityProblem =
  | 'hash_mismatch' // the stored text no longer matches its recorded SHA-256
  | 'activation_unchained' // no audit-chain entry with a valid MAC records this activation of this text
  | 'activation_entry_altered'; // that entry was edited after it was chained (its hash no longer matches)

/**
 * Binds activations to the tamper-evident audit trail (docs/policies.md#integrity). The policy service chains an
 * activation before storing it; the runtime checks the stored activation against the chain before it compiles
 * the version. Implemented by the audit module (src/audit/policy-ledger.ts).
 */
export interface PolicyLedger {
  /** Told of every failed check (the composition root chains it and raises a security event). */
  onFailure(f: IntegrityFailure): void;
  /** Appends the activation to the chain (with its MAC); rejects when it cannot. */
  chainActivation(b: ActivationBinding): Promise<void>;
  /** undefined when the chain holds an unaltered entry with a valid MAC for exactly this activation of exactly this text. */
  checkActivation(b: Omit<ActivationBinding, 'number' | 'previous'>): Promise<IntegrityProblem | undefined>;
}

export interface PolicyRepo {
  /** Inserts with the next number; returns the stored record. */
  create(v: Omit<PolicyVersionRecord, 'number'>): Promise<PolicyVersionRecord>;
  get(id: string): Promise<PolicyVersionRecord | undefined>;
  getByNumber(n: number): Promise<PolicyVersionRecord | undefined>;
  getByHash(hash: string): Promise<PolicyVersionRecord | undefined>;
  /** Newest first, without `source`. */
  list(limit: number): Promise<Omit<PolicyVersionRecord, 'source'>[]>;
  activate(a: Omit<PolicyActivation, 'seq'>): Promise<PolicyActivation>;
  /** The latest activation (the active version), if any. */
  active(): Promise<PolicyActivation | undefined>;
  /** Newest first. */
  activations(limit: number): Promise<PolicyActivation[]>;
}
