import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { runRetention } from '../../src/audit/runtime.ts';
import { verifyStore } from '../../src/audit/verify-store.ts';
import { entryHash, keyIdOf, signCheckpoint, canonicalJson, type AuditEntry } from '../../src/audit/chain.ts';
import { sealBody } from '../../src/audit/recording.ts';
import { closeOpenFixtures, seeded, WRITER, type Fixture } from './helpers.ts';

const withoutRowidOf = (db: DatabaseSync, table: string): boolean =>
  /WITHOUT ROWID/i.test(String((db.prepare('SELECT sql FROM sqlite_schema WHERE name = ?').get(table) as { sql: string }).sql));

const verify = (f: Fixture, pinnedPublicKeyPem?: string) => verifyStore({ repo: f.repo, now: Date.now(), pinnedPublicKeyPem });
const codes = (r: Awaited<ReturnType<typeof verify>>) => r.problems.map((p) => `${p.code}@${p.seq ?? p.exchangeId}`);

describe('audit chain', () => {
  afterEach(closeOpenFixtures);

  it('verifies an untouched trail, sealed by a checkpoint', async () => {
    const { f, log } = await seeded();
    const r = await verify(f);
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.entries, 13);
    assert.equal(r.writers[0]!.sealedSeq, 13);
    assert.deepEqual(r.warnings, []);
    assert.equal(r.bodies.checked, 12);
    assert.equal(r.keys[0]!.keyId, log.publicKey.keyId);
    await f.close();
  });

  it('a trail written in the first table layout verifies after the append-layout migration, sessions intact', async () => {
    const { f } = await seeded();
    const before = { sessions: await f.repo.sessions({}), entries: await f.repo.entries({ writer: WRITER, afterSeq: 0, limit: 100 }) };
    await f.store.close();
    // Back to the layout of audit/001-chain (WITHOUT ROWID entries, rowid session membership), as an older gateway left it.
    const db = new DatabaseSync(f.dbPath);
    db.exec(`BEGIN;
      CREATE TABLE e1 (writer TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT, ref_id TEXT,
        payload_json TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (writer, seq)) WITHOUT ROWID;
      INSERT INTO e1 SELECT * FROM audit_entries; DROP TABLE audit_entries; ALTER TABLE e1 RENAME TO audit_entries;
      CREATE INDEX audit_entries_at ON audit_entries(at);
      CREATE TABLE m1 (exchange_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, at INTEGER NOT NULL);
      INSERT INTO m1 SELECT * FROM audit_session_exchanges; DROP TABLE audit_session_exchanges; ALTER TABLE m1 RENAME TO audit_session_exchanges;
      CREATE INDEX audit_session_exchanges_session ON audit_session_exchanges(session_id, at);
      DELETE FROM schema_migrations WHERE id = 'audit/002-append-layout';
      COMMIT;`);
    assert.equal(withoutRowidOf(db, 'audit_entries'), true);
    db.close();
    await f.reopen();
    const check = new DatabaseSync(f.dbPath);
    assert.equal(withoutRowidOf(check, 'audit_entries'), false);
    assert.equal(withoutRowidOf(check, 'audit_session_exchanges'), true);
    check.close();
    const r = await verify(f);
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.deepEqual(await f.repo.entries({ writer: WRITER, afterSeq: 0, limit: 100 }), before.entries);
    assert.deepEqual(await f.repo.sessions({}), before.sessions);
    assert.equal((await f.repo.sessionExchanges(before.sessions[0]!.id)).length, 6);
    await f.close();
  });

  it('entry hash is SHA-256 over JCS with a domain prefix (documented in docs/audit.md)', async () => {
    const e: Omit<AuditEntry, 'hash'> = { writer: 'w', seq: 1, at: 1, kind: 'a.b', subject: null, refId: null, payload: { b: 1, a: [true, 'x'] }, prev: '0'.repeat(64) };
    assert.equal(canonicalJson({ b: 1, a: [true, 'x'] }), '{"a":[true,"x"],"b":1}');
    assert.match(entryHash(e), /^[0-9a-f]{64}$/);
    assert.notEqual(entryHash(e), entryHash({ ...e, seq: 2 }));
  });

  it('detects an edited body and names the exchange', async () => {
    const { f } = await seeded();
    f.tamper('UPDATE exchanges SET client_request = ? WHERE id = ?', sealBody(f.keyring, 'ex_2', 'client_request', Buffer.from('{"edited":true}')), 'ex_2');
    f.tamper("UPDATE exchange_segments SET sealed = X'00' WHERE exchange_id = 'ex_3'");
    const r = await verify(f);
    assert.equal(r.ok, false);
    assert.deepEqual(codes(r), ['body_modified@5', 'body_modified@8']);
    assert.equal(r.problems[0]!.exchangeId, 'ex_2');
    assert.match(r.problems[1]!.message, /segment 0 of exchange ex_3/);
    await f.close();
  });

  it('detects an edited entry', async () => {
    const { f } = await seeded();
    f.tamper(`UPDATE audit_entries SET payload_json = replace(payload_json, '"completed"', '"rejected"') WHERE writer = ? AND seq = 4`, WRITER);
    const r = await verify(f);
    assert.deepEqual(codes(r), ['entry_modified@4']);
    await f.close();
  });

  it('detects a deleted entry', async () => {
    const { f } = await seeded();
    f.tamper('DELETE FROM audit_entries WHERE writer = ? AND seq = 7', WRITER);
    const r = await verify(f);
    assert.deepEqual(codes(r), ['entry_missing@7']);
    assert.match(r.problems[0]!.message, /seq 7 of writer gw-a \(deleted\)/);
    await f.close();
  });

  it('detects two swapped entries', async () => {
    const { f } = await seeded();
    f.tamper('UPDATE audit_entries SET seq = -1 WHERE writer = ? AND seq = 5', WRITER);
    f.tamper('UPDATE audit_entries SET seq = 5 WHERE writer = ? AND seq = 6', WRITER);
    f.tamper('UPDATE audit_entries SET seq = 6 WHERE writer = ? AND seq = -1', WRITER);
    const r = await verify(f);
    assert.deepEqual(codes(r), ['entry_out_of_order@5', 'entry_out_of_order@6']);
    assert.match(r.problems[0]!.message, /stored at seq 5 .* written as seq 6/);
    await f.close();
  });

  it('detects a truncated tail against the signed checkpoint', async () => {
    const { f } = await seeded();
    f.tamper('DELETE FROM audit_entries WHERE writer = ? AND seq > 10', WRITER);
    const r = await verify(f);
    assert.deepEqual(codes(r), ['tail_truncated@11']);
    assert.match(r.problems[0]!.message, /entries 11\.\.13 were removed/);
    await f.close();
  });

  it('reports entries after the last checkpoint as unsealed (warning, not failure)', async () => {
    const { f, log } = await seeded();
    await log.append({ kind: 'auth.failure', payload: { reason: 'bad_key' } });
    const r = await verify(f);
    assert.equal(r.ok, true);
    assert.deepEqual(r.warnings.map((w) => w.code), ['tail_unsealed']);
    await log.checkpoint();
    assert.deepEqual((await verify(f)).warnings, []);
    await f.close();
  });

  it('detects a forged checkpoint: altered, signed by a stranger, or signed by a key slipped into the store', async () => {
    const { f, log } = await seeded();
    f.tamper("UPDATE audit_checkpoints SET seq = 12, hash = (SELECT hash FROM audit_entries WHERE seq = 12) WHERE writer = ?", WRITER);
    assert.deepEqual(codes(await verify(f)), ['checkpoint_forged@12']);

    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const head = (await f.repo.entry(WRITER, 13))!;
    const forged = signCheckpoint({ writer: WRITER, seq: 13, hash: head.hash, at: 1, keyId: keyIdOf(pem) }, privateKey);
    f.tamper('DELETE FROM audit_checkpoints');
    f.tamper('INSERT INTO audit_checkpoints (writer, seq, hash, at, key_id, signature) VALUES (?, ?, ?, ?, ?, ?)', WRITER, 13, head.hash, 1, forged.keyId, forged.signature);
    assert.deepEqual(codes(await verify(f)), ['checkpoint_unknown_key@13']);

    f.tamper('INSERT INTO audit_keys (key_id, public_key, sealed_private, created_at) VALUES (?, ?, X\'00\', 0)', forged.keyId, pem);
    assert.equal((await verify(f)).ok, true, 'a key planted in the store is trusted unless the published key is pinned');
    assert.deepEqual(codes(await verify(f, log.publicKey.publicKeyPem)), ['checkpoint_unknown_key@13']);
    await f.close();
  });

  it('detects history rewritten with recomputed hashes (checkpoint mismatch)', async () => {
    const { f } = await seeded();
    const rows = await f.repo.entries({ writer: WRITER, afterSeq: 0, limit: 100 });
    let prev = rows[0]!.prev;
    for (const e of rows) {
      const payload = e.seq === 3 ? { ...e.payload, model: 'innocent' } : e.payload;
      const hash = entryHash({ ...e, payload, prev });
      f.tamper('UPDATE audit_entries SET payload_json = ?, prev_hash = ?, hash = ? WHERE writer = ? AND seq = ?', JSON.stringify(payload), prev, hash, WRITER, e.seq);
      prev = hash;
    }
    assert.deepEqual(codes(await verify(f)), ['checkpoint_mismatch@13']);
    await f.close();
  });

  it('retention purge leaves tombstones and a verifiable trail; a body removed without one, or behind a forged one, is flagged', async () => {
    const { f, clock, log } = await seeded();
    // A run dated a day on that keeps one day: its cutoff (1.5 s ago) falls between ex_3 and ex_4.
    const runAt = clock.now() - 1500 + 86_400_000;
    const res = await runRetention({ repo: f.repo, log, now: runAt, retention: { bodies_days: 1, metadata_days: 0, purge_interval_ms: 60_000 } });
    assert.equal(res.bodiesPurged, 4);
    const r = await verify(f);
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.bodies.purged, 8); // 4 exchanges × (start + finish) body records
    f.tamper("UPDATE exchanges SET response = NULL WHERE id = 'ex_4'");
    assert.deepEqual(codes(await verify(f)), ['body_missing@10']);
    // Attack: cover the deletion with a tombstone dated like the real run — ex_4 started after that run's cutoff.
    f.tamper(`INSERT INTO audit_tombstones (exchange_id, purged_at) VALUES ('ex_4', ${runAt})`);
    assert.deepEqual(codes(await verify(f)), ['tombstone_outside_retention@9']);
    // … or with a tombstone of its own date: no chained run purged then.
    f.tamper(`UPDATE audit_tombstones SET purged_at = ${runAt + 7} WHERE exchange_id = 'ex_4'`);
    assert.deepEqual(codes(await verify(f)), ['tombstone_unaccounted@9']);
    await f.close();
  });
});
