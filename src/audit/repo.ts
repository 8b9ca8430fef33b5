import type { AuditEntry, Checkpoint, PublicKeyInfo } from './chain.ts';

/**
 * Persistence port of the audit trail, sessions and retention. SQLite implements it in
 * src/store/sqlite/audit.ts; a PostgreSQL implementation must compute `seq`/`prev` inside the same transaction
 * as the insert (unique (writer, seq) + retry) so two replicas can never fork one writer's chain.
 */
/** Kinds looked up by what they are about: the policy runtime checks each activation against its chained entry. */
export const REF_INDEXED_KINDS = ['policy.activated'] as const;
export type RefIndexedKind = (typeof REF_INDEXED_KINDS)[number];

export interface AppendInput {
  at: number;
  kind: string;
  subject: string | null;
  refId: string | null;
  /**
   * The payload as canonical JSON (RFC 8785, `src/core/canonical-json.ts`): stored as is and hashed inside the
   * entry, so the writer never serializes it again.
   */
  payloadJson: string;
  /**
   * The exchange this entry is about. The store checks, in the same transaction, that it is recorded ('start') or
   * ended ('finish'). Without `inPayload`, the store also adds `payload.bodies` = SHA-256 of the sealed bodies as
   * stored: 'start' (client/upstream request), 'finish' (response + every stream segment).
   */
  digestBodies?: {
    exchangeId: string;
    phase: 'start' | 'finish';
    /** The caller held the exact sealed bytes being stored and put their digests in the payload already. */
    inPayload?: boolean;
  };
}

/** What an append reports back: where the entry landed in its writer's chain. */
export type AppendedEntry = Pick<AuditEntry, 'writer' | 'seq' | 'hash'>;

export interface BodyDigests {
  client_request?: string | null;
  /**
   * The deduplicated messages this exchange stored first (src/audit/dedup.ts): its conversation scope and, per
   * message, [ref, SHA-256 of the sealed bytes]. Messages it reused were covered by the entry that stored them.
   */
  messages?: { scope: string; added: [ref: string, sha256: string][] };
  upstream_request?: string | null;
  response?: string | null;
  segments?: { seq: number; sha256: string }[];
}

export interface StoredBodies {
  exchangeId: string;
  exists: boolean;
  purgedAt: number | null;
  digests: Required<Omit<BodyDigests, 'messages'>>;
}

export interface EntryQuery {
  writer: string;
  afterSeq: number;
  limit: number;
}

export interface SigningKeyRow extends PublicKeyInfo {
  sealedPrivate: Buffer;
}

export interface SessionAssign {
  exchangeId: string;
  at: number;
  subject: string | null;
  client: string;
  /** Explicit session key (keyed hash); null = group by subject + client + time gap. */
  key: string | null;
  source: string;
  gapMs: number;
}

export interface SessionRow {
  id: string;
  subject: string | null;
  client: string;
  source: string;
  firstAt: number;
  lastAt: number;
  exchangeCount: number;
}

export interface SessionFilter {
  subject?: string;
  since?: number;
  until?: number;
  limit?: number;
}

export interface PurgeResult {
  bodiesPurged: number;
  exchangesDeleted: number;
  /** Held prompts of decided approvals whose sealed request was removed. */
  heldPromptsPurged: number;
  /** Tombstones this run wrote, each dated `now`: verification accounts for them with this run's chain entry. */
  tombstones: number;
  /** Deduplicated messages removed (each tombstoned, dated `now`): conversations with no exchange since the cutoff. */
  messagesPurged?: number;
}

/** A deduplicated message as stored: the SHA-256 of its sealed bytes (null: absent) and its tombstone's date. */
export interface StoredMessageDigest {
  scope: string;
  ref: string;
  sha256: string | null;
  purgedAt: number | null;
}

export interface AuditRepo {
  append(writer: string, input: AppendInput): Promise<AppendedEntry>;
  heads(): Promise<{ writer: string; seq: number; hash: string; at: number }[]>;
  entries(q: EntryQuery): Promise<AuditEntry[]>;
  /** Entries of every writer with since <= at < until, ordered by writer, seq. */
  entriesBetween(since: number, until: number): Promise<AuditEntry[]>;
  entry(writer: string, seq: number): Promise<AuditEntry | undefined>;
  /**
   * Entries of one kind about one thing (`ref_id`), newest first, at most `limit`. Only kinds in REF_INDEXED_KINDS
   * are indexed for it (a partial index: exchange entries, the bulk of the trail, pay nothing).
   */
  entriesByRef(kind: RefIndexedKind, refId: string, limit: number): Promise<AuditEntry[]>;
  writers(): Promise<string[]>;
  putCheckpoint(c: Checkpoint): Promise<void>;
  checkpoints(writer?: string): Promise<Checkpoint[]>;
  /** Inserts the key unless one with the same id exists; returns every key (oldest first). */
  putKey(k: SigningKeyRow): Promise<void>;
  keys(): Promise<SigningKeyRow[]>;
  storedBodies(exchangeIds: string[]): Promise<StoredBodies[]>;
  /** Deduplicated messages (src/audit/dedup.ts) as stored, in the order asked. */
  storedMessages(items: { scope: string; ref: string }[]): Promise<StoredMessageDigest[]>;
  /**
   * Retention, one transaction: NULL the bodies of exchanges started before `bodiesBefore` (tombstoned, dated `now`)
   * and the held prompts of approvals decided before it; delete exchange rows before `metadataBefore`.
   */
  purge(o: { bodiesBefore: number | null; metadataBefore: number | null; now: number }): Promise<PurgeResult>;
  assignSession(a: SessionAssign): Promise<string>;
  sessions(f: SessionFilter): Promise<SessionRow[]>;
  session(id: string): Promise<SessionRow | undefined>;
  sessionExchanges(id: string): Promise<string[]>;
}
