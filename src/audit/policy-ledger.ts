import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Keyring } from '../crypto/keyring.ts';
import type { ActivationBinding, PolicyLedger } from '../policy/versions.ts';
import { canonicalJson, entryHash } from './chain.ts';
import type { AuditLog } from './log.ts';
import type { AuditRepo } from './repo.ts';

/** Domain separation: this MAC can never stand in for another keyed hash of the `audit` key (session ids). */
const MAC_DOMAIN = 'portcullis-policy-activation/v1\n';

type Checked = Omit<ActivationBinding, 'number' | 'previous'>;

/**
 * Policy activations in the audit trail (docs/policies.md#integrity). `chainActivation` appends
 * `policy.activated` {version_id, number, hash, mode, action, by, at, previous, mac} before the activation is
 * stored; `mac` is HMAC-SHA256, under a key derived from the master key, over exactly what the runtime will find in
 * the store (version id, the SHA-256 of its text, mode, action, time, actor). `checkActivation` accepts a stored
 * activation only when an unaltered entry carries a valid MAC for it. Someone who can write the database but does
 * not hold the master key can therefore neither edit a version's text (its hash no longer matches), recompute the
 * hash (the chained MAC binds the old one), insert an activation the gateway did not chain, nor forge the entry
 * (hash chains and even signed checkpoints can be extended by whoever writes the tail; a MAC cannot).
 */
export function createPolicyLedger(o: { log: AuditLog; repo: AuditRepo; keyring: Keyring; onFailure: PolicyLedger['onFailure'] }): PolicyLedger {
  const mac = (b: Checked): string => createHmac('sha256', o.keyring.key('audit')).update(MAC_DOMAIN + canonicalJson(bound(b))).digest('hex');
  return {
    onFailure: o.onFailure,
    async chainActivation(b) {
      await o.log.append({
        kind: 'policy.activated', subject: b.by, refId: b.versionId,
        // Keys in canonical (sorted) order.
        payload: {
          ...bound(b), mac: mac(b), number: b.number,
          previous: b.previous && { hash: b.previous.hash, version_id: b.previous.versionId },
        },
      });
    },
    async checkActivation(b) {
      const want = Buffer.from(mac(b), 'hex');
      const entries = await o.repo.entriesByRef('policy.activated', b.versionId, 1000);
      const e = entries.find((x) => {
        const m = x.payload.mac;
        return typeof m === 'string' && m.length === want.length * 2 && timingSafeEqual(Buffer.from(m, 'hex'), want);
      });
      if (!e) return 'activation_unchained';
      // The MAC proves the binding; the entry hash proves nothing else in the entry was edited since.
      return entryHash(e) === e.hash ? undefined : 'activation_entry_altered';
    },
  };
}

/** The fields the MAC binds, as the runtime reads them back from the store (canonical key order). */
function bound(b: Checked): { action: string; at: number; by: string; hash: string; mode: string; version_id: string } {
  return { action: b.action, at: b.at, by: b.by, hash: b.hash, mode: b.mode, version_id: b.versionId };
}
