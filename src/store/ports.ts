/**
 * Store ports: what the gateway needs from persistence, independent of the engine. SQLite (embedded, default)
 * and PostgreSQL (scale-out) implement the same interfaces and pass the same conformance suite
 * (conformance.ts). All methods are async so no implementation forces sync I/O onto the request path.
 */
import type { PrincipalKind } from '../core/principal.ts';

export interface ApiKeyRecord {
  id: string;
  hash: string;
  subject: string;
  kind: PrincipalKind;
  displayName: string;
  groups: string[];
  createdAt: number;
  createdBy: string;
  expiresAt: number | null;
  revokedAt: number | null;
  description: string | null;
}

export interface ApiKeyRepo {
  create(rec: ApiKeyRecord): Promise<void>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  list(): Promise<ApiKeyRecord[]>;
  /** Returns false when the key does not exist or was already revoked. */
  revoke(id: string, at: number): Promise<boolean>;
  count(): Promise<number>;
}

export type ExchangeStatus =
  | 'in_progress'
  | 'completed'
  | 'upstream_error'
  | 'client_aborted'
  | 'incomplete'
  | 'rejected'
  | 'failed';

export interface ExchangeUsage {
  inputTokens: number | null;
  outputTokens: number | null;
  totalTokens: number | null;
}

export interface ExchangeTimings {
  /** ms from start until the upstream's first response byte. */
  upstreamFirstByteMs: number | null;
  /** ms from start until the first byte written to the client. */
  clientFirstByteMs: number | null;
  /** ms from start until the exchange ended. */
  totalMs: number | null;
}

/** Written durably before the request goes upstream (fail closed). */
export interface ExchangeStart {
  id: string;
  startedAt: number;
  subject: string | null;
  /** Principal snapshot (kind, name, groups, auth method, credential id) — never a secret. */
  principal: Record<string, unknown> | null;
  endpoint: string;
  method: string;
  path: string;
  model: string | null;
  provider: string | null;
  upstreamModel: string | null;
  stream: boolean;
  clientIp: string | null;
  userAgent: string | null;
  /** Policy decision summary (effect, reasons, rule ids, version, decision id). */
  decision: Record<string, unknown> | null;
  /** Finding summaries (type, offsets, detector, action) — never values. */
  findings: Record<string, unknown>[];
  /** Sealed (encrypted) bodies; null when body recording is off. */
  clientRequest: Buffer | null;
  upstreamRequest: Buffer | null;
  /**
   * Messages the bodies reference (src/audit/dedup.ts): written with the exchange, once per conversation. Absent or
   * null: the bodies are whole (no conversation id, recording off, nothing worth deduplicating).
   */
  messages?: StartMessages | null;
  /**
   * The client's conversation id, found by the gateway in the body it parsed (null: none); for the audit session
   * grouping. Not stored as such (only its keyed hash is, by the audit trail).
   */
  sessionHint?: SessionHint | null;
  /**
   * The replica lease (`ReplicaLease.id`) of the process serving the exchange: only that process ends it, and if it
   * dies, whoever finds its lease expired recovers it (src/fleet/replica.ts). Set by the recorder; null on rows
   * written before leases existed.
   */
  owner?: string | null;
}

/** The sealed messages an exchange's bodies reference, for the store: the new ones with their bytes. */
export interface StartMessages {
  /** Conversation scope (32 hex, a keyed hash). */
  scope: string;
  /** How many refs the bodies use that the recorder took as already stored (not sent again). */
  reused: number;
  added: { ref: string; sealed: Buffer }[];
}

export interface StoredMessage {
  ref: string;
  sealed: Buffer;
}

/**
 * In the message of a start's error when it reused refs of a conversation the store does not hold (retention removed
 * it since the recorder last saw it): nothing was written, and the recorder starts again with every message. A code
 * in the text, because errors cross from the SQLite worker as text.
 */
export const STALE_MESSAGE_REFS = 'stale_message_refs';

export const isStaleMessageRefs = (err: unknown): boolean => err instanceof Error && err.message.includes(STALE_MESSAGE_REFS);

export interface SessionHint {
  key: string;
  /** `header`, `metadata.<field>`, `conversation`, `user+time-gap`. */
  source: string;
}

export interface ExchangeFinish {
  id: string;
  finishedAt: number;
  status: Exclude<ExchangeStatus, 'in_progress'>;
  httpStatus: number | null;
  errorCode: string | null;
  timings: ExchangeTimings;
  usage: ExchangeUsage;
  /** Sealed non-streamed response body (streams go to segments). */
  response: Buffer | null;
  eventCount: number;
  responseFindings: Record<string, unknown>[];
  /**
   * Whether the request was handed to the provider: false for a refusal (policy, content, approval, budget) or a
   * failure before the upstream call (recording); true once the upstream call was made (even if it then failed).
   * Stored, chained in `exchange.finished`, and read by every view: a refused exchange never shows an upstream body.
   * null: not known — an exchange recovered after its replica died before any answer was stored.
   */
  forwarded: boolean | null;
}

export interface ExchangeRow extends Omit<ExchangeStart, 'clientRequest' | 'upstreamRequest'>, Partial<Omit<ExchangeFinish, 'response' | 'id' | 'status' | 'forwarded'>> {
  status: ExchangeStatus;
  /** null: not finished, or recorded before the flag existed (exchange-view.ts `forwardedOf` reads the status then). */
  forwarded: boolean | null;
}

export interface ExchangeBodies {
  clientRequest: Buffer | null;
  upstreamRequest: Buffer | null;
  response: Buffer | null;
  /** Sealed stream segments in order. */
  segments: { seq: number; sealed: Buffer }[];
}

/**
 * What the exchange list selects by (GET /admin/v1/exchanges, docs/api.md). Every field narrows; the group, client
 * tool and finding type select what the usage rollups count under those dimensions (src/analytics/fold.ts), so a
 * dashboard number and the list behind it agree.
 */
export interface ExchangeFilter {
  subject?: string;
  model?: string;
  /** One status, or any of several (the dashboard's errors span four: ERROR_STATUSES in src/analytics/fold.ts). */
  status?: ExchangeStatus | readonly ExchangeStatus[];
  /** A group of the principal's snapshot (`principal.groups`). */
  group?: string;
  /** The client tool family of the User-Agent (src/analytics/client-family.ts), stored as `client_tool` at start. */
  clientTool?: string;
  /** A finding type of the request's or the answer's findings. */
  findingType?: string;
  /** The error code of a refused or failed exchange (`policy_denied`, `unknown_model`, …). */
  errorCode?: string;
  since?: number;
  until?: number;
  /** Return rows with id < before (pagination; ids sort by time). */
  before?: string;
  limit?: number;
}

export interface ExchangeRepo {
  start(rec: ExchangeStart): Promise<void>;
  appendSegment(exchangeId: string, seq: number, sealed: Buffer): Promise<void>;
  finish(rec: ExchangeFinish): Promise<void>;
  /** Start and finish in one write: requests refused before going upstream. */
  recordRejected(start: ExchangeStart, finish: ExchangeFinish): Promise<void>;
  get(id: string): Promise<ExchangeRow | undefined>;
  bodies(id: string): Promise<ExchangeBodies | undefined>;
  /** The stored messages of a conversation among `refs` (a missing one is simply absent). */
  messages(scope: string, refs: string[]): Promise<StoredMessage[]>;
  list(filter: ExchangeFilter): Promise<ExchangeRow[]>;
  /**
   * Ends an exchange that is still in progress (recovery of a dead replica's exchanges, a replica's own earlier
   * run): the same conditional write as `finish`, but false instead of an error when it had already ended, so
   * concurrent recoverers end each exchange exactly once.
   */
  interrupt(rec: ExchangeFinish): Promise<boolean>;
}

/** A gateway process's lease: renewed by its heartbeat; once expired, the process counts as dead. */
export interface ReplicaLease {
  /** Unique per process start: `<audit writer id>.<random>`. */
  id: string;
  /** Its audit chain (`audit.writer_id`). */
  writer: string;
  startedAt: number;
  heartbeatAt: number;
  expiresAt: number;
}

export interface OrphanQuery {
  now: number;
  /** The asking replica: its own lease is never treated as dead. */
  self: string;
  /** Every other lease counts as dead: a single-process store (SQLite) at start recovers its own earlier runs. */
  othersDead: boolean;
  /** Exchanges without an owner (written before leases) count as orphaned once started before this. */
  unownedBefore: number;
  limit: number;
}

/** Replica leases (src/fleet/replica.ts): who is alive, and which in-flight exchanges nobody alive owns. */
export interface ReplicaRepo {
  /** Takes or renews a lease. True when the row had to be created (first beat, or it was lost: pruned as dead). */
  heartbeat(lease: ReplicaLease): Promise<boolean>;
  /** Ends a lease (clean shutdown, once the replica has ended its own exchanges). */
  release(id: string): Promise<void>;
  list(): Promise<ReplicaLease[]>;
  /** In-progress exchanges whose owner holds no live lease (expired, released, pruned, or unowned), oldest first. */
  orphaned(q: OrphanQuery): Promise<ExchangeRow[]>;
  /** Deletes dead leases that own no in-progress exchange any more; returns how many. */
  prune(q: Omit<OrphanQuery, 'limit' | 'unownedBefore'>): Promise<number>;
}

export interface CredentialRepo {
  /** Sealed provider credential; write-only through every interface (there is no API that returns it). */
  put(provider: string, sealed: Buffer, at: number, by: string): Promise<void>;
  get(provider: string): Promise<{ sealed: Buffer; updatedAt: number } | undefined>;
  list(): Promise<{ provider: string; updatedAt: number; updatedBy: string }[]>;
}

/** One sealed placeholder mapping of a tokenized conversation (see src/governance/token-vault.ts). */
export interface VaultRow {
  placeholder: string;
  /** HMAC of the value: lets the store detect a conflicting mapping without decrypting. */
  valueMac: string;
  sealed: Buffer;
}

export interface TokenVaultRepo {
  /** Unexpired mappings of a conversation. */
  get(conversation: string, now: number): Promise<VaultRow[]>;
  /**
   * Insert-if-absent per placeholder (new rows expire at `expiresAt`) and push the expiry of the conversation's rows
   * that expire before `refreshBelow` (default `expiresAt`) to `expiresAt`. Returns the placeholders that already
   * map to a different value (conflicts; nothing of the put is written then).
   */
  put(conversation: string, rows: VaultRow[], expiresAt: number, refreshBelow?: number): Promise<string[]>;
  /** Delete expired mappings; returns how many. */
  purgeExpired(now: number): Promise<number>;
}

/** A committed change other replicas must apply now rather than at their next poll (docs/fleet.md). */
export interface StoreChange {
  kind: 'key_revoked' | 'session_revoked' | 'policy_activated' | 'approval_decided';
  /** Key id, login session id, policy version id, approval id. */
  id: string;
}

/** Push notifications of committed changes (PostgreSQL LISTEN/NOTIFY); best effort, polling stays the bound. */
export interface ChangeFeed {
  /** Returns the unsubscribe function. */
  subscribe(fn: (change: StoreChange) => void): () => void;
}

export interface Store {
  readonly engine: 'sqlite' | 'postgres';
  /**
   * Changes committed by other processes sharing the store; absent where no other process shares it (SQLite: the
   * process that made a change applies it itself).
   */
  readonly changes?: ChangeFeed;
  /**
   * Calls are applied in call order, and calls made together (in one synchronous run of code) in one transaction
   * (SQLite's worker group commit; on PostgreSQL the recording writes — exchange start, finish, interrupt, audit
   * appends, sessions, budget increments — through its recording group commit, unless a batch had to be split or
   * retried call by call): a later call sees what an earlier one wrote, so callers may issue dependent writes
   * together instead of awaiting each. False where each call is its own transaction on its own connection.
   */
  readonly appliesCallsMadeTogetherInOrder: boolean;
  readonly tokenVault: TokenVaultRepo;
  readonly apiKeys: ApiKeyRepo;
  readonly exchanges: ExchangeRepo;
  readonly replicas: ReplicaRepo;
  readonly credentials: CredentialRepo;
  /** Liveness of the store for readiness probes. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
