import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.ts';
import { PolicyService } from '../../src/governance/policy-service.ts';
import { loadPolicy } from '../../src/policy/load.ts';
import type { Store } from '../../src/store/ports.ts';
import { openPolicyRepo } from '../../src/store/policy-repo.ts';
import { PostgresStore } from '../../src/store/postgres/index.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

const policy = (model: string) => `version: 1\nrules:\n  - id: r\n    effect: allow\n    resources: { models: [${model}] }\n`;

/** The same behaviour on both engines: immutable versions, numbering, activation log, rollback, diff. */
function policyStoreSuite(name: string, open: () => Promise<Store>): void {
  describe(`policy versions: ${name}`, () => {
    let store: Store;
    let svc: PolicyService;
    before(async () => {
      store = await open();
      svc = new PolicyService({ repo: openPolicyRepo(store), clock: systemClock, load: (s, file, version) => loadPolicy(s, { file, version }) });
    });
    after(() => store.close());

    it('pushes immutable, numbered versions; identical text is not stored twice', async () => {
      const a = await svc.push(policy('a'), { author: 'user:ann', message: 'first' });
      const b = await svc.push(policy('b'), { author: 'user:bob', message: 'second' });
      const again = await svc.push(policy('a'), { author: 'user:eve', message: 'dup' });
      assert.equal(a.created, true);
      assert.equal(b.version.number, a.version.number + 1);
      assert.equal(again.created, false);
      assert.equal(again.version.id, a.version.id);
      assert.equal(again.version.author, 'user:ann', 'the stored version is unchanged');
      assert.match(a.version.hash, /^[0-9a-f]{64}$/);
      assert.equal((await svc.resolve(`v${b.version.number}`)).source, policy('b'));
      assert.equal((await svc.resolve(String(b.version.number))).id, b.version.id);
      assert.equal((await svc.resolve(b.version.id)).message, 'second');
    });

    it('refuses an invalid push and unknown versions', async () => {
      await assert.rejects(svc.push('version: 1\nrules:\n  - id: x\n    effect: maybe\n', { author: 'a', message: '' }), (e: Error & { details?: { issues?: unknown[] } }) => (e.details?.issues?.length ?? 0) > 0);
      await assert.rejects(svc.resolve('v9999'), /No policy version/);
      await assert.rejects(svc.resolve('pv_00000000000000000000000000'), /No policy version/);
      await assert.rejects(svc.activate('v9999', { by: 'x', mode: 'enforce' }), /No policy version/);
    });

    it('activates, records history with activation times, rolls back step by step, diffs', async () => {
      const v1 = (await svc.push(policy('m1'), { author: 'a', message: 'm1' })).version;
      const v2 = (await svc.push(policy('m2'), { author: 'a', message: 'm2' })).version;
      const v3 = (await svc.push(policy('m3'), { author: 'a', message: 'm3' })).version;
      await svc.activate(v1.id, { by: 'admin', mode: 'enforce' });
      await svc.activate(v2.id, { by: 'admin', mode: 'observe' });
      await svc.activate(v3.id, { by: 'admin', mode: 'enforce' });
      assert.equal((await svc.resolve('active')).id, v3.id);
      const back1 = await svc.rollback('admin');
      assert.equal(back1.version.id, v2.id);
      assert.equal(back1.activation.mode, 'observe', 'a rollback restores the mode the version ran in');
      assert.equal((await svc.rollback('admin')).version.id, v1.id);
      await assert.rejects(svc.rollback('admin'), /no earlier activation/);
      const h = await svc.history();
      const row = h.versions.find((v) => v.id === v1.id)!;
      assert.equal(row.active, true);
      assert.equal(row.activatedAt.length, 2);
      assert.equal(h.activations[0]!.action, 'rollback');
      const diff = await svc.diff(v1.id, { ref: v2.id });
      assert.match(diff, /^-.*\[m1\]/m);
      assert.match(diff, /^\+.*\[m2\]/m);
      assert.equal(await svc.diff(v1.id, { ref: v1.id }), '');
    });
  });
}

policyStoreSuite('sqlite', () => SqliteStore.open({ path: join(mkdtempSync(join(tmpdir(), 'pcl-policy-')), 'db.sqlite'), synchronous: 'normal' }));

let pg: TestPostgres;
before(async () => {
  pg = await startTestPostgres();
});
after(() => pg.stop());
policyStoreSuite('postgres', () => PostgresStore.open(pg.url));
