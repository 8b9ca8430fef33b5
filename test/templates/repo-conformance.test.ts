import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pushTemplate, TemplateResolver, type TemplateRepo, type TemplateSpec } from '../../src/policy/templates/index.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/ports.ts';
import { templateRepoFor } from '../../src/store/template-repo.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

const spec = (content: string): TemplateSpec => ({ id: 'greet', description: 'say hi', params: { name: { type: 'string', max_length: 10 } }, messages: [{ role: 'user', content }] });

/** One behavioural suite for both store engines (STYLE.md #7). */
function conformance(engine: string, open: () => Promise<{ store: Store; close(): Promise<void> }>): void {
  describe(`prompt templates repo: ${engine}`, () => {
    let repo: TemplateRepo;
    let handle: { close(): Promise<void> } | undefined;
    before(async () => {
      const h = await open();
      handle = h;
      repo = templateRepoFor(h.store);
    });
    after(async () => handle?.close());

    it('versions are immutable and numbered; identical content is not a new version', async () => {
      const v1 = await pushTemplate(repo, spec('Hi {{name}}'), { at: 1000, by: 'user:a' });
      assert.deepEqual([v1.created, v1.record.version], [true, 1]);
      const again = await pushTemplate(repo, { messages: [{ role: 'user', content: 'Hi {{name}}' }], params: { name: { max_length: 10, type: 'string' } }, description: 'say hi', id: 'greet' }, { at: 2000, by: 'user:b' });
      assert.deepEqual([again.created, again.record.version, again.record.createdBy], [false, 1, 'user:a']);
      const v2 = await pushTemplate(repo, spec('Hello {{name}}'), { at: 3000, by: 'user:b' });
      assert.equal(v2.record.version, 2);
      assert.equal((await repo.get('greet', 1))?.spec.messages[0]?.content, 'Hi {{name}}');
      assert.equal((await repo.get('greet'))?.version, 2);
      assert.equal(await repo.get('greet', 3), undefined);
      assert.equal(await repo.get('nope'), undefined);
      assert.deepEqual((await repo.versions('greet')).map((r) => [r.version, r.createdBy, r.createdAt]), [[1, 'user:a', 1000], [2, 'user:b', 3000]]);
      assert.deepEqual(await repo.list(), [{ id: 'greet', latestVersion: 2, description: 'say hi', updatedAt: 3000 }]);
    });

    it('concurrent pushes of different content get distinct versions', async () => {
      const results = await Promise.all([1, 2, 3, 4].map((i) => pushTemplate(repo, { ...spec(`v${i} {{name}}`), id: 'race' }, { at: i, by: 'x' })));
      assert.deepEqual(results.map((r) => r.record.version).sort(), [1, 2, 3, 4]);
    });

    it('the resolver pins versions for good and re-reads "latest" after its TTL', async () => {
      const clock = { t: 0 };
      const resolver = new TemplateResolver({ repo, latestTtlMs: 1000, now: () => clock.t });
      const req = (ref: string) => ({ endpoint: { id: 'openai.chat' }, headers: { 'x-portcullis-template': ref, 'x-portcullis-template-vars': '{"name":"Ann"}' }, body: { model: 'm' } });
      const first = await resolver.resolveTemplate(req('greet'));
      assert.ok(first?.ok && first.version === 2 && JSON.stringify(first.body.messages) === '[{"role":"user","content":"Hello Ann"}]');
      await pushTemplate(repo, spec('Hey {{name}}'), { at: 4000, by: 'user:c' });
      const cached = await resolver.resolveTemplate(req('greet'));
      assert.ok(cached?.ok && cached.version === 2);
      clock.t += 1001;
      const next = await resolver.resolveTemplate(req('greet'));
      assert.ok(next?.ok && next.version === 3);
      const pinned = await resolver.resolveTemplate(req('greet@1'));
      assert.ok(pinned?.ok && pinned.version === 1);
      const unknown = await resolver.resolveTemplate(req('missing'));
      assert.ok(unknown && !unknown.ok && unknown.error.status === 400 && /Unknown template "missing"/.test(unknown.error.message));
      assert.equal(await resolver.resolveTemplate({ endpoint: { id: 'openai.chat' }, headers: {}, body: { model: 'm' } }), undefined);
    });
  });
}

conformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-tpl-'));
  const store = await openStore(`sqlite:${join(dir, 't.db')}`, { baseDir: dir });
  return { store, close: () => store.close() };
});

conformance('postgres', async () => {
  const pg: TestPostgres = await startTestPostgres();
  try {
    const store = await openStore(pg.url, { baseDir: tmpdir() });
    return { store, close: async () => { await store.close(); await pg.stop(); } };
  } catch (err) {
    await pg.stop();
    throw err;
  }
});

describe('template resolver fails closed', () => {
  it('a store error refuses with evaluation_error', async () => {
    const broken: TemplateRepo = { push: () => Promise.reject(new Error('x')), get: () => Promise.reject(new Error('db down')), list: () => Promise.resolve([]), versions: () => Promise.resolve([]) };
    const r = await new TemplateResolver({ repo: broken }).resolveTemplate({ endpoint: { id: 'openai.chat' }, headers: { 'x-portcullis-template': 'a' }, body: {} });
    assert.ok(r && !r.ok && r.error.code === 'evaluation_error' && r.error.status === 503);
  });
});
