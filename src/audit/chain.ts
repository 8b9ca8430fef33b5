import { createPublicKey, hash, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.ts';

/**
 * The audit chain's data model and its two cryptographic rules, shared by the writer (the store worker), the
 * online verifier and the offline bundle verifier — so all three agree byte for byte.
 *
 * Entry hash  = SHA-256("portcullis-audit/v1\n" || JCS({v, writer, seq, at, kind, subject, ref_id, payload, prev}))
 * Checkpoint  = Ed25519 (RFC 8032) signature over "portcullis-audit-checkpoint/v1\n" || JCS({writer, seq, hash, at, key_id})
 *
 * JCS is the JSON Canonicalization Scheme (RFC 8785): object keys sorted by UTF-16 code units, no whitespace,
 * ECMAScript number and string serialization — which is exactly JSON.stringify over sorted keys for the integer
 * and string values the trail contains. The domain-separation prefixes keep an entry hash from ever being
 * mistaken for a checkpoint message (or for anything else hashed with SHA-256).
 */
export const GENESIS_HASH = '0'.repeat(64);
export const ENTRY_VERSION = 1;

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

export interface AuditEntry {
  /** The replica that wrote the entry; each writer has its own chain (docs/audit.md, "Several replicas"). */
  writer: string;
  /** 1-based, gap-free per writer. */
  seq: number;
  at: number;
  kind: string;
  subject: string | null;
  refId: string | null;
  payload: { [k: string]: Json };
  /** Hash of entry seq-1 of the same writer, or GENESIS_HASH for seq 1 (or the anchor after a prune). */
  prev: string;
  hash: string;
}

export interface Checkpoint {
  writer: string;
  seq: number;
  hash: string;
  at: number;
  keyId: string;
  /** base64 Ed25519 signature. */
  signature: string;
}

export interface PublicKeyInfo {
  keyId: string;
  /** SPKI PEM. */
  publicKeyPem: string;
  createdAt: number;
}

export { canonicalJson };

export function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}

export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  return sha256Hex(entryMessage(e, canonicalJson(e.payload)));
}

/**
 * The hashed message of an entry whose payload is already canonical JSON — the writers canonicalize the payload
 * once and store that same text. Equal to the JCS of {v, writer, seq, at, kind, subject, ref_id, payload, prev}:
 * the keys are written in their sorted order (at, kind, payload, prev, ref_id, seq, subject, v, writer).
 */
export function entryMessage(e: Omit<AuditEntry, 'hash' | 'payload'>, payloadJson: string): string {
  // A finite number prints the same through a template as through JSON.stringify (Number::toString).
  if (!Number.isFinite(e.at) || !Number.isFinite(e.seq)) throw new TypeError('canonical JSON has no representation for non-finite numbers');
  return `portcullis-audit/v1\n{"at":${e.at},"kind":${JSON.stringify(e.kind)},"payload":${payloadJson},"prev":${JSON.stringify(e.prev)},`
    + `"ref_id":${e.refId === null ? 'null' : JSON.stringify(e.refId)},"seq":${e.seq},"subject":${e.subject === null ? 'null' : JSON.stringify(e.subject)},`
    + `"v":${ENTRY_VERSION},"writer":${JSON.stringify(e.writer)}}`;
}

export function checkpointMessage(c: Omit<Checkpoint, 'signature'>): Buffer {
  return Buffer.from(`portcullis-audit-checkpoint/v1\n${canonicalJson({ writer: c.writer, seq: c.seq, hash: c.hash, at: c.at, key_id: c.keyId })}`);
}

export function signCheckpoint(c: Omit<Checkpoint, 'signature'>, privateKey: KeyObject): Checkpoint {
  // Ed25519 takes no digest algorithm: node:crypto wants `null` (RFC 8032 PureEdDSA).
  return { ...c, signature: sign(null, checkpointMessage(c), privateKey).toString('base64') };
}

export function checkpointSignatureValid(c: Checkpoint, publicKeyPem: string): boolean {
  return signatureValid(checkpointMessage(c), c.signature, publicKeyPem);
}

/** Bundle manifest message: domain-separated like checkpoints so neither signature can stand in for the other. */
export function bundleMessage(manifest: Json): Buffer {
  return Buffer.from(`portcullis-audit-bundle/v1\n${canonicalJson(manifest)}`);
}

export function signatureValid(message: Buffer, signatureB64: string, publicKeyPem: string): boolean {
  try {
    return verify(null, message, createPublicKey(publicKeyPem), Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}

/** Key id = first 16 hex chars of SHA-256 over the SPKI DER: short enough to print, stable across PEM formatting. */
export function keyIdOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return sha256Hex(der).slice(0, 16);
}
