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
