import { mintApiKey } from '../crypto/api-keys.ts';
import type { PrincipalKind } from '../core/principal.ts';
import type { ApiKeyRecord, ApiKeyRepo } from '../store/ports.ts';

export interface CreateKeyRequest {
  name: string;
  kind: PrincipalKind;
  groups: string[];
  expiresAt: number | null;
  createdBy: string;
  description?: string | null;
}

/** Mints a key, stores only its hash, and returns the secret exactly once. */
export async function createApiKey(repo: ApiKeyRepo, req: CreateKeyRequest, now: number): Promise<{ record: ApiKeyRecord; secret: string }> {
  const minted = mintApiKey();
  const record: ApiKeyRecord = {
    id: minted.id,
    hash: minted.hash,
    subject: `${req.kind === 'user' ? 'user' : 'service'}:${req.name}`,
    kind: req.kind,
    displayName: req.name,
    groups: [...new Set(req.groups)],
    createdAt: now,
    createdBy: req.createdBy,
    expiresAt: req.expiresAt,
    revokedAt: null,
    description: req.description ?? null,
  };
  await repo.create(record);
  return { record, secret: minted.secret };
}

/** A key as shown to people: never the hash. */
export function publicKeyView(r: ApiKeyRecord): Record<string, unknown> {
  return {
    id: r.id,
    subject: r.subject,
    kind: r.kind,
    name: r.displayName,
    groups: r.groups,
    created_at: new Date(r.createdAt).toISOString(),
    created_by: r.createdBy,
    expires_at: r.expiresAt === null ? null : new Date(r.expiresAt).toISOString(),
    revoked_at: r.revokedAt === null ? null : new Date(r.revokedAt).toISOString(),
    description: r.description,
  };
}

/** `30d`, `12h`, `90m`, `45s` -> milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!m) throw new Error(`invalid duration "${text}" (use e.g. 30d, 12h, 90m)`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit;
}
