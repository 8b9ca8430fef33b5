import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { AuditLog } from '../../src/audit/log.ts';
import { exportBundle, type AuditBundle } from '../../src/audit/bundle.ts';
import { verifyBundle } from '../../src/audit/bundle-verify.ts';
import { bundleMessage, canonicalJson, keyIdOf, sha256Hex, type Json } from '../../src/audit/chain.ts';
import { closeOpenFixtures, seeded, WRITER } from './helpers.ts';

const T0 = Date.parse('2025-01-01T00:00:00Z');

async function bundle(range?: { since: number; until: number }): Promise<{ b: AuditBundle; pem: string }> {
  const { f, log, clock } = await seeded();
  // A second replica's chain in the same store.
  const other = await AuditLog.open({ repo: f.repo, keyring: f.keyring, clock, writerId: 'gw-b', checkpointIntervalMs: 0, checkpointEveryEntries: 1e6 });
  await other.append({ kind: 'auth.failure', payload: { reason: 'bad_key' } });
  await other.append({ kind: 'admin.action', subject: 'root', payload: { action: 'keys.revoke', target: 'key_2' } });
  const b = await exportBundle({ repo: f.repo, log, since: range?.since ?? T0, until: range?.until ?? T0 + 86_400_000, now: clock.now() });
  await f.close();
  return { b: JSON.parse(JSON.stringify(b)) as AuditBundle, pem: log.publicKey.publicKeyPem };
}

const codes = (r: ReturnType<typeof verifyBundle>): string[] => r.problems.map((p) => `${p.code}@${p.writer ?? ''}:${p.seq ?? ''}`);
const idx = (b: AuditBundle, writer: string, seq: number): number => b.entries.findIndex((e) => e.writer === writer && e.seq === seq);

describe('audit export bundle, verified offline', () => {
  afterEach(closeOpenFixtures);

  it('verifies an untouched bundle of two writers, pinned to the published key', async () => {
    const { b, pem } = await bundle();
    const r = verifyBundle(b, { pinnedPublicKeyPem: pem });
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.keyTrust, 'pinned');
    assert.deepEqual(r.writers.map((w) => [w.writer, w.firstSeq, w.lastSeq, w.sealedSeq]), [[WRITER, 1, 13, 13], ['gw-b', 1, 2, 2]]);
    assert.deepEqual(r.warnings, []);
  });

  it('a partial range starts at an anchor and extends to the sealing checkpoint', async () => {
    const { b, pem } = await bundle({ since: T0 + 2500, until: T0 + 4500 });
    assert.deepEqual(b.manifest.writers.map((w) => [w.writer, w.anchor_seq, w.last_seq, w.sealed_seq]), [[WRITER, 4, 13, 13]]);
    assert.equal(verifyBundle(b, { pinnedPublicKeyPem: pem }).ok, true);
  });

  it('entry hashes can be checked with nothing but SHA-256 and JCS (docs/audit.md recipe)', async () => {
    const { b } = await bundle();
    for (const e of b.entries) {
      const { hash, ...body } = e;
      assert.equal(sha256Hex(`portcullis-audit/v1\n${canonicalJson(body)}`), hash);
    }
  });

  it('detects an edited entry', async () => {
    const { b, pem } = await bundle();
    b.entries[idx(b, WRITER, 4)]!.payload.status = 'rejected';
    assert.deepEqual(codes(verifyBundle(b, { pinnedPublicKeyPem: pem })), [`entry_modified@${WRITER}:4`]);
  });

  it('detects a dropped entry, also the first one after the anchor', async () => {
    const { b, pem } = await bundle();
    b.entries.splice(idx(b, WRITER, 7), 1);
    b.entries.splice(idx(b, WRITER, 1), 1);
    assert.deepEqual(codes(verifyBundle(b, { pinnedPublicKeyPem: pem })), [`entry_missing@${WRITER}:1`, `entry_missing@${WRITER}:7`]);
  });

  it('detects reordered entries, in the file or renumbered', async () => {
    const { b, pem } = await bundle();
    const i = idx(b, WRITER, 5);
    [b.entries[i], b.entries[i + 1]] = [b.entries[i + 1]!, b.entries[i]!];
    const r = verifyBundle(b, { pinnedPublicKeyPem: pem });
    assert.deepEqual(codes(r), [`entry_out_of_order@${WRITER}:5`]);
    assert.match(r.problems[0]!.message, /position 5/);
    const { b: b2, pem: pem2 } = await bundle();
    const [x, y] = [b2.entries[idx(b2, WRITER, 8)]!, b2.entries[idx(b2, WRITER, 9)]!];
    [x.seq, y.seq] = [y.seq, x.seq];
    assert.deepEqual(codes(verifyBundle(b2, { pinnedPublicKeyPem: pem2 })), [`entry_out_of_order@${WRITER}:8`, `entry_out_of_order@${WRITER}:9`]);
  });

  it('detects a truncated tail, with or without the checkpoint that sealed it', async () => {
    const { b, pem } = await bundle();
    b.entries = b.entries.filter((e) => e.writer !== WRITER || e.seq <= 10);
    assert.deepEqual(codes(verifyBundle(b, { pinnedPublicKeyPem: pem })), [`tail_truncated@${WRITER}:11`]);
    b.checkpoints = b.checkpoints.filter((c) => c.writer !== WRITER);
    const r = verifyBundle(b, { pinnedPublicKeyPem: pem });
    assert.deepEqual(codes(r), [`tail_truncated@${WRITER}:11`]);
    assert.match(r.problems[0]!.message, /entries 11\.\.13 were removed/);
  });

  it('detects a dropped writer', async () => {
    const { b, pem } = await bundle();
    b.entries = b.entries.filter((e) => e.writer !== 'gw-b');
    assert.deepEqual(codes(verifyBundle(b, { pinnedPublicKeyPem: pem })), ['tail_truncated@gw-b:1']);
  });

  it('detects a forged checkpoint and a re-signed bundle unless the key is pinned', async () => {
    const { b, pem } = await bundle();
    const cp = b.checkpoints.find((c) => c.writer === WRITER)!;
    const original = { ...cp };
    cp.seq = 12;
    cp.hash = b.entries[idx(b, WRITER, 12)]!.hash;
    assert.deepEqual(codes(verifyBundle(b, { pinnedPublicKeyPem: pem })), [`checkpoint_forged@${WRITER}:12`]);
    Object.assign(cp, original);

    // The attacker rewrites history and re-signs everything with a key of their own, shipped in the bundle.
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const evilPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    b.entries.splice(idx(b, WRITER, 3), 1);
    b.manifest.writers[0]!.entries--;
    for (const c of b.checkpoints) {
      c.key_id = keyIdOf(evilPem);
      c.signature = sign(null, Buffer.from(`portcullis-audit-checkpoint/v1\n${canonicalJson({ writer: c.writer, seq: c.seq, hash: c.hash, at: c.at, key_id: c.key_id })}`), privateKey).toString('base64');
    }
    b.key_id = keyIdOf(evilPem);
    b.signature = sign(null, bundleMessage(b.manifest as unknown as Json), privateKey).toString('base64');
    b.public_keys = [{ key_id: b.key_id, public_key_pem: evilPem, created_at: new Date(0).toISOString() }];
    assert.deepEqual(codes(verifyBundle(b)), [`entry_missing@${WRITER}:3`], 'the chain still catches the drop');
    const pinned = codes(verifyBundle(b, { pinnedPublicKeyPem: pem }));
    assert.ok(pinned.includes('bundle_signature_invalid@:'));
    assert.ok(pinned.includes(`checkpoint_unknown_key@${WRITER}:13`));
  });

  it('detects an altered manifest and rejects what is not a bundle', async () => {
    const { b, pem } = await bundle();
    b.manifest.writers[0]!.last_seq = 10;
    assert.deepEqual(codes(verifyBundle(b, { pinnedPublicKeyPem: pem })), ['bundle_signature_invalid@:', `entry_unexpected@${WRITER}:11`]);
    assert.deepEqual(codes(verifyBundle({ format: 'x' })), ['bundle_malformed@:']);
    assert.deepEqual(codes(verifyBundle([])), ['bundle_malformed@:']);
  });
});
