import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CatalogueGuard, setHashOf, toolHash } from '../../src/mcp/catalogue.ts';
import type { McpCatalogue, McpPinRepo } from '../../src/mcp/pin-repo.ts';
import { mcpPinRepoFor } from '../../src/store/mcp-pin-repo.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/ports.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

const catalogue = (tools: Record<string, string>, at: number, by = 'user:a'): McpCatalogue => {
  const t = Object.fromEntries(Object.entries(tools).map(([n, h]) => [n, { hash: h }]));
  return { server: 'gh', tools: t, setHash: setHashOf(t), at, by };
};

/** One behavioural suite for both store engines (STYLE.md #7). */
function conformance(engine: string, open: () => Promise<{ store: Store; close(): Promise<void> }>): void {
  describe(`MCP catalogue pins: ${engine}`, () => {
    let repo: McpPinRepo;
    let handle: { close(): Promise<void> } | undefined;
    before(async () => {
      const h = await open();
      handle = h;
      repo = mcpPinRepoFor(h.store);
    });
    after(async () => handle?.close());

    it('the first catalogue is pinned once; a later one never replaces it by pinIfAbsent', async () => {
      const first = catalogue({ a: '1'.repeat(64) }, 1000);
      assert.deepEqual(await repo.pinIfAbsent(first), first);
      const second = catalogue({ a: '2'.repeat(64) }, 2000, 'user:b');
      assert.deepEqual(await repo.pinIfAbsent(second), first);
      assert.deepEqual((await repo.get('gh')).pinned, first);
      assert.equal((await repo.get('other')).pinned, undefined);
    });

    it('a pending catalogue is accepted only under the set hash the approver reviewed', async () => {
      const pending = { ...catalogue({ a: '2'.repeat(64), b: '3'.repeat(64) }, 3000), definitions: { a: { name: 'a' } }, findings: [{ tool: 'a', type: 'MCP_INJECTION_MARKER', marker: 'system_prompt' }] };
      await repo.propose(pending);
      assert.deepEqual((await repo.get('gh')).pending, pending);
      assert.equal(await repo.accept('gh', 'f'.repeat(64), 4000, 'user:approver'), undefined);
      const pinned = await repo.accept('gh', pending.setHash, 4000, 'user:approver');
      assert.deepEqual(pinned, { server: 'gh', tools: pending.tools, setHash: pending.setHash, at: 4000, by: 'user:approver' });
      const now = await repo.get('gh');
      assert.deepEqual(now.pinned, pinned);
      assert.equal(now.pending, undefined);
      assert.equal(await repo.accept('gh', pending.setHash, 5000, 'user:approver'), undefined, 'an accept is not replayable');
      assert.deepEqual((await repo.list()).map((r) => [r.server, r.state, r.by]), [['gh', 'pinned', 'user:approver']]);
    });

    it('the catalogue guard pins the first list, quarantines a changed or new tool, and lets it through after an accept', async () => {
      let now = 10_000;
      const g = new CatalogueGuard({ repo, now: () => now, cacheMs: 0 });
      const search = { name: 'search', description: 'Search issues', inputSchema: { type: 'object', properties: { q: { type: 'string' } } } };
      const first = await g.review('jira', [search], 'user:a');
      assert.deepEqual([first.pinned, [...first.allowed]], [true, ['search']]);
      assert.deepEqual(await g.checkCall('jira', 'search'), { ok: true, hash: toolHash(search) });
      // Key order is not a change (RFC 8785 canonical JSON); a changed schema is.
      const reordered = { inputSchema: search.inputSchema, description: search.description, name: 'search' };
      assert.deepEqual([...(await g.review('jira', [reordered], 'user:a')).allowed], ['search']);
      const widened = { ...search, inputSchema: { type: 'object', properties: { q: { type: 'string' }, jql: { type: 'string' } } } };
      const r = await g.review('jira', [widened, { name: 'delete', description: 'x' }], 'user:a');
      assert.deepEqual(r.quarantined, [{ name: 'search', why: 'changed' }, { name: 'delete', why: 'new' }]);
      assert.deepEqual(await g.checkCall('jira', 'search'), { ok: false, why: 'quarantined' });
      g.markStale('jira');
      assert.deepEqual(await g.checkCall('jira', 'search'), { ok: false, why: 'unknown' }, 'after list_changed the next call re-lists first');
      await g.review('jira', [widened, { name: 'delete', description: 'x' }], 'user:a');
      const { pending } = await repo.get('jira');
      now += 1;
      assert.ok(await repo.accept('jira', pending!.setHash, now, 'user:approver'));
      g.invalidate('jira');
      assert.deepEqual(await g.checkCall('jira', 'search'), { ok: true, hash: toolHash(widened) });
    });
  });
}

conformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-mcp-pins-'));
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
