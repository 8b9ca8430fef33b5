import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { canonicalJson } from '../../src/core/canonical-json.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { DENY_MINI_POLICY } from '../helpers/policies.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitFor } from '../events/helpers.ts';
import { readJsonLines } from '../helpers/jsonl.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Refuses gpt-4o-mini for everyone: the version an attacker would like to loosen. */
const STRICT = DENY_MINI_POLICY;
/** What the attacker writes into the store instead: everything allowed. */
const LOOSE = `
version: 1
name: strict
rules:
  - id: eng
    effect: allow
    subjects: { groups: [eng] }
`;
/** Pushed for review, never activated. */
const DRAFT = `
version: 1
name: draft
rules:
  - id: anyone
    effect: allow
    subjects: { groups: ["*"] }
`;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * Issue #11 item 12: a policy version edited in the database behind the gateway's back is never enforced. Every
 * load checks the text against its recorded SHA-256 and the activation against its MAC-bound entry in the audit
 * trail; on a mismatch the replica refuses every request (503), chains `policy.integrity_failed` and raises the
 * security event. Run on both engines, with the store written directly (the attacker with database access).
 */
for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`policy integrity on ${engine}: a tampered version is refused, not enforced`, () => {
    const master = randomBytes(32).toString('base64');
    let pgdb: TestPostgres | undefined;
    let storeUrl: string | undefined;
    let a: TestGateway;
    let ids: { strict: string; draft: string };
    const replicas: TestGateway[] = [];

    const sql = async (text: string, ...args: (string | number)[]): Promise<void> => {
      if (pgdb) {
        const c = new pg.Client({ connectionString: pgdb.url });
        await c.connect();
        try {
          await c.query(text.replace(/\?/g, (() => { let i = 0; return () => `$${++i}`; })()), args);
        } finally {
          await c.end();
        }
        return;
      }
      const db = new DatabaseSync(join(a.dir, 'portcullis.db'));
      try {
        db.exec('PRAGMA busy_timeout = 10000');
        db.prepare(text).run(...args);
      } finally {
        db.close();
      }
    };
    const replica = async (): Promise<TestGateway> => {
      const r = await startTestGateway({
        masterKey: master, storeUrl: storeUrl ?? `sqlite:${join(a.dir, 'portcullis.db')}`,
        extraYaml: 'auth:\n  roles: { admin: [portcullis-admins], user: [eng] }\nevents:\n  sinks: [{ name: siem, type: file, path: events.jsonl, batch_size: 1 }]\n',
      });
      replicas.push(r);
      return r;
    };
    const chat = async (t: TestGateway, model: string): Promise<{ status: number; json: Json }> => {
      const r = await fetch(`${t.openaiBase}/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${t.userKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      });
      return { status: r.status, json: (await r.json()) as Json };
    };
    const admin = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${a.gw.url}${path}`, { method, headers: { authorization: `Bearer ${a.adminKey}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.status, json: (await r.json()) as Json };
    };
    const trail = async (t: TestGateway, kind: string) => (await t.gw.evidence.audit.repo.entriesBetween(0, Date.now() + 60_000)).filter((e) => e.kind === kind);
    /** The SIEM file of every replica: the shared outbox is delivered once, by whichever replica holds the sink's lease. */
    const integrityEvents = async (): Promise<Json[]> => {
      const lines = (await Promise.all(replicas.map((r) => readJsonLines<Json>(join(r.dir, 'events.jsonl'))))).flat();
      return lines.filter((e) => e.metadata?.event_code === 'policy.integrity_failed');
    };

    /** A fresh replica loads the active version: it must refuse everything and say why, once, without the text. */
    const assertRefusedOnLoad = async (problem: string): Promise<TestGateway> => {
      const r = await replica();
      const refused = await chat(r, 'gpt-4o');
      assert.equal(refused.status, 503, JSON.stringify(refused.json));
      assert.equal(refused.json.error.code, 'evaluation_error');
      assert.equal((await chat(r, 'gpt-4o-mini')).status, 503, 'the loosened text is not enforced either');
      assert.match(r.gw.governance.policy.runtime.state().error ?? '', new RegExp(`integrity check \\(${problem}\\)`));
      await waitFor(async () => (await trail(r, 'policy.integrity_failed')).some((e) => e.payload.problem === problem && e.payload.during === 'load'), 15_000, 'the chained integrity failure');
      await waitFor(async () => (await integrityEvents()).some((e) => e.unmapped?.portcullis?.problem === problem), 60_000, 'the security event');
      const event = (await integrityEvents()).find((e) => e.unmapped?.portcullis?.problem === problem)!;
      assert.equal(event.severity_id, 5);
      assert.equal(event.status, 'Failure');
      assert.ok(!JSON.stringify(event).includes('rules'), 'the event carries no policy text');
      return r;
    };

    before(async () => {
      if (engine === 'postgres') {
        pgdb = await startTestPostgres();
        storeUrl = pgdb.url;
      }
      a = await startTestGateway({
        masterKey: master, ...(storeUrl ? { storeUrl } : {}),
        extraYaml: 'auth:\n  roles: { admin: [portcullis-admins], user: [eng] }\n',
      });
      const strict = await admin('POST', '/admin/v1/policies', { source: STRICT, message: 'strict' });
      const draft = await admin('POST', '/admin/v1/policies', { source: DRAFT, message: 'draft' });
      assert.equal(strict.status, 201, JSON.stringify(strict.json));
      ids = { strict: String(strict.json.id), draft: String(draft.json.id) };
      assert.equal((await admin('POST', `/admin/v1/policies/${ids.strict}/activate`, {})).status, 200);
    });
    after(async () => {
      for (const r of replicas) await r.close();
      await a.close();
      await pgdb?.stop();
    });

    it('an intact version loads on another replica and is enforced; its activation is chained with the hash', async () => {
      const r = await replica();
      assert.equal((await chat(r, 'gpt-4o')).status, 200);
      assert.equal((await chat(r, 'gpt-4o-mini')).status, 400, 'a policy refusal on an OpenAI path is 400');
      const [act] = await trail(a, 'policy.activated');
      assert.equal(act?.refId, ids.strict);
      assert.equal(act?.payload.hash, sha256(STRICT));
      assert.equal(act?.payload.previous, null);
      assert.match(act?.payload.mac as string, /^[0-9a-f]{64}$/);
    });

    it('attack: the stored text edited (hash left as recorded) → every request refused, event raised, activation refused', async () => {
      await sql('UPDATE policy_versions SET source = ? WHERE id = ?', LOOSE, ids.strict);
      await assertRefusedOnLoad('hash_mismatch');
      const again = await admin('POST', `/admin/v1/policies/${ids.strict}/activate`, {});
      assert.equal(again.status, 409, JSON.stringify(again.json));
      assert.match(again.json.error.message, /no longer matches its recorded SHA-256/);
    });

    it('attack: text and hash both rewritten → the chained MAC still binds the old hash: refused', async () => {
      await sql('UPDATE policy_versions SET source = ?, hash = ? WHERE id = ?', LOOSE, sha256(LOOSE), ids.strict);
      await assertRefusedOnLoad('activation_unchained');
    });

    it('attack: an activation row inserted for a version the gateway never activated → refused', async () => {
      await sql('UPDATE policy_versions SET source = ?, hash = ? WHERE id = ?', STRICT, sha256(STRICT), ids.strict);
      await sql('INSERT INTO policy_activations (version_id, mode, action, at, by) VALUES (?, ?, ?, ?, ?)', ids.draft, 'enforce', 'activate', Date.now(), 'user:admin');
      await assertRefusedOnLoad('activation_unchained');
    });

    it('attack: the chained activation entry edited (its MAC kept) → refused as altered', async () => {
      await sql('DELETE FROM policy_activations WHERE version_id = ?', ids.draft);
      const [act] = await trail(a, 'policy.activated');
      // Restored text + its genuine activation: enforced again (the checks are not sticky).
      assert.equal((await chat(await replica(), 'gpt-4o-mini')).status, 400, 'the restored, chained version is enforced');
      await sql('UPDATE audit_entries SET payload_json = ? WHERE writer = ? AND seq = ?', canonicalJson({ ...act!.payload, number: 99 }), act!.writer, act!.seq);
      await assertRefusedOnLoad('activation_entry_altered');
      await sql('UPDATE audit_entries SET payload_json = ? WHERE writer = ? AND seq = ?', canonicalJson(act!.payload), act!.writer, act!.seq);
    });

    it('an administrator recovers by activating a valid version: it loads everywhere, the trail shows the chain', async () => {
      const act = await admin('POST', `/admin/v1/policies/${ids.draft}/activate`, {});
      assert.equal(act.status, 200, JSON.stringify(act.json));
      const r = await replica();
      assert.equal((await chat(r, 'gpt-4o-mini')).status, 200);
      const chain = await trail(a, 'policy.activated');
      assert.deepEqual(chain.map((e) => [e.refId, e.payload.hash]), [[ids.strict, sha256(STRICT)], [ids.draft, sha256(DRAFT)]]);
      assert.deepEqual(chain[1]!.payload.previous, { hash: sha256(STRICT), version_id: ids.strict });
    });

    it('upgrade: an activation stored before activations were chained is refused until `policy activate active`', async () => {
      // What a store written by an earlier gateway looks like: an activation row without its policy.activated entry.
      await sql('INSERT INTO policy_activations (version_id, mode, action, at, by) VALUES (?, ?, ?, ?, ?)', ids.strict, 'enforce', 'activate', Date.now(), 'user:admin');
      await assertRefusedOnLoad('activation_unchained');
      const adopted = await admin('POST', '/admin/v1/policies/active/activate', {});
      assert.equal(adopted.status, 200, JSON.stringify(adopted.json));
      const r = await replica();
      assert.equal((await chat(r, 'gpt-4o-mini')).status, 400, 'the adopted version is enforced again');
    });
  });
}
