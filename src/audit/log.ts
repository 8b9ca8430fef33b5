import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { bundleMessage, canonicalJson, keyIdOf, signCheckpoint, type Checkpoint, type Json, type PublicKeyInfo } from './chain.ts';
import type { AppendedEntry, AuditRepo, BodyDigests } from './repo.ts';

/** What modules append: exchange lifecycle, decisions, approvals, admin actions, auth events. Never a secret. */
export interface AuditRecord {
  kind: `${string}.${string}`;
  subject?: string | null;
  refId?: string | null;
  payload: { [k: string]: Json };
}

export interface AuditLogOptions {
  repo: AuditRepo;
  keyring: Keyring;
  clock: Clock;
  /** This replica's chain (docs/audit.md). Unique per replica; stable across restarts. */
  writerId: string;
  /** Sign a checkpoint of every chain at this interval (when the head moved). 0 = only on demand/close. */
  checkpointIntervalMs: number;
  /** …and after this many appends by this process, whichever comes first. */
  checkpointEveryEntries: number;
}

const KEY_AAD = 'audit/signing-key';

/**
 * The gateway's signing key: an Ed25519 key pair generated on first use, private key sealed at rest with the
 * keyring ('audit' purpose), public key stored in clear and published (`portcullis audit public-key`, exports).
 * Replicas sharing a store share the key (the first to start creates it; INSERT OR IGNORE settles races).
 */
export async function loadSigningKey(repo: AuditRepo, keyring: Keyring, now: number): Promise<{ privateKey: KeyObject; info: PublicKeyInfo }> {
  let keys = await repo.keys();
  if (keys.length === 0) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });
    await repo.putKey({ keyId: keyIdOf(publicKeyPem), publicKeyPem, createdAt: now, sealedPrivate: keyring.seal('audit', der, KEY_AAD) });
    keys = await repo.keys();
  }
  const k = keys[keys.length - 1]!;
  let der: Buffer;
  try {
    der = keyring.open('audit', k.sealedPrivate, KEY_AAD);
  } catch {
    throw new Error('the audit signing key in this store cannot be decrypted: the store was written with another master key (check master_key)');
  }
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  // A swapped public key row would make every checkpoint fail verification; refuse to sign with a mismatched pair.
  const derived = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  if (keyIdOf(derived) !== k.keyId) throw new Error('audit signing key does not match its stored public key');
  return { privateKey, info: { keyId: k.keyId, publicKeyPem: k.publicKeyPem, createdAt: k.createdAt } };
}

export class AuditLog {
  readonly #o: AuditLogOptions;
  readonly #key: { privateKey: KeyObject; info: PublicKeyInfo };
  #sinceCheckpoint = 0;
  #timer: NodeJS.Timeout | undefined;
  #checkpointing: Promise<Checkpoint[]> | undefined;

  private constructor(o: AuditLogOptions, key: { privateKey: KeyObject; info: PublicKeyInfo }) {
    this.#o = o;
    this.#key = key;
  }

  static async open(o: AuditLogOptions): Promise<AuditLog> {
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(o.writerId)) throw new TypeError('audit writer id must be 1-128 of [A-Za-z0-9._:-]');
    const log = new AuditLog(o, await loadSigningKey(o.repo, o.keyring, o.clock.now()));
    if (o.checkpointIntervalMs > 0) {
      log.#timer = setInterval(() => void log.checkpoint().catch(() => undefined), o.checkpointIntervalMs);
      log.#timer.unref();
    }
    return log;
  }

  get writerId(): string {
    return this.#o.writerId;
  }

  get publicKey(): PublicKeyInfo {
    return this.#key.info;
  }

  /**
   * Durable when it resolves (the store commits before replying). Throws when the entry could not be written.
   * `exchange` ties the entry to a recorded exchange: with `bodies` (digests of the sealed bytes in hand) they go
   * into the payload here; without, the store digests the bodies as stored.
   */
  async append(r: AuditRecord, exchange?: { id: string; phase: 'start' | 'finish'; bodies?: BodyDigests }): Promise<AppendedEntry> {
    // `bodies` first: it sorts before every key of the exchange payloads, which keeps them in canonical order.
    const payload = exchange?.bodies ? { bodies: exchange.bodies as Json, ...r.payload } : r.payload;
    const entry = await this.#o.repo.append(this.#o.writerId, {
      at: this.#o.clock.now(), kind: r.kind, subject: r.subject ?? null, refId: r.refId ?? null, payloadJson: canonicalJson(payload),
      digestBodies: exchange && { exchangeId: exchange.id, phase: exchange.phase, inPayload: exchange.bodies !== undefined },
    });
    if (++this.#sinceCheckpoint >= this.#o.checkpointEveryEntries) void this.checkpoint().catch(() => undefined);
    return entry;
  }

  /**
   * Signs the current head of every chain in the store whose newest checkpoint is older than its head (so a
   * replica that died still gets its final head sealed by a live one). Concurrent calls share one run.
   */
  checkpoint(): Promise<Checkpoint[]> {
    this.#checkpointing ??= this.#doCheckpoint().finally(() => (this.#checkpointing = undefined));
    return this.#checkpointing;
  }

  async #doCheckpoint(): Promise<Checkpoint[]> {
    this.#sinceCheckpoint = 0;
    const [heads, existing] = await Promise.all([this.#o.repo.heads(), this.#o.repo.checkpoints()]);
    const latest = new Map<string, number>();
    for (const c of existing) latest.set(c.writer, Math.max(latest.get(c.writer) ?? 0, c.seq));
    const out: Checkpoint[] = [];
    for (const h of heads) {
      if ((latest.get(h.writer) ?? 0) >= h.seq) continue;
      const cp = signCheckpoint({ writer: h.writer, seq: h.seq, hash: h.hash, at: this.#o.clock.now(), keyId: this.#key.info.keyId }, this.#key.privateKey);
      await this.#o.repo.putCheckpoint(cp);
      out.push(cp);
    }
    return out;
  }

  /** Signs an export bundle's manifest with the gateway key (docs/audit.md, "Export bundle"). */
  signManifest(manifest: Json): { keyId: string; signature: string } {
    return { keyId: this.#key.info.keyId, signature: sign(null, bundleMessage(manifest), this.#key.privateKey).toString('base64') };
  }

  /** Stops the timer and seals the final head. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.checkpoint();
  }
}
