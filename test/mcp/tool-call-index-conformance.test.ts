import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NotedToolCall, ToolCallIndex } from '../../src/audit/tool-call-index.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/ports.ts';
import { toolCallIndexFor } from '../../src/store/tool-call-index.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

const call = (o: Partial<NotedToolCall> & { toolCallId: string; at: number }): NotedToolCall => ({
  subject: 'user:alice', argsDigest: 'd1', exchangeId: 'ex_1', name: 'mcp__dev__get_weather', ...o,
});

/** The model tool-call index (src/audit/tool-call-index.ts), one behavioural suite for both engines (STYLE.md #7). */
function conformance(engine: string, open: () => Promise<{ store: Store; close(): Promise<void> }>): void {
  describe(`model tool-call index: ${engine}`, () => {
    let index: ToolCallIndex;
    let handle: { close(): Promise<void> } | undefined;
    before(async () => {
      const h = await open();
      handle = h;
      index = toolCallIndexFor(h.store)!;
    });
    after(async () => handle?.close());

    it('finds the calls of one identity with these arguments in the window, newest first; a second note is a no-op', async () => {
      await index.note([call({ toolCallId: 'c1', at: 1000 }), call({ toolCallId: 'c2', at: 2000, exchangeId: 'ex_2' })], 0);
      await index.note([call({ toolCallId: 'c1', at: 1000, name: 'changed' })], 0);
      await index.note([call({ toolCallId: 'c3', at: 3000, subject: 'user:bob' }), call({ toolCallId: 'c4', at: 3000, argsDigest: 'd2' })], 0);
      const found = await index.find({ subject: 'user:alice', argsDigest: 'd1', since: 0, limit: 10 });
      assert.deepEqual(found.map((c) => [c.toolCallId, c.exchangeId, c.name, c.at]), [['c2', 'ex_2', 'mcp__dev__get_weather', 2000], ['c1', 'ex_1', 'mcp__dev__get_weather', 1000]]);
      assert.deepEqual((await index.find({ subject: 'user:alice', argsDigest: 'd1', since: 1500, limit: 10 })).map((c) => c.toolCallId), ['c2']);
      assert.deepEqual((await index.find({ subject: 'user:alice', argsDigest: 'd1', since: 0, limit: 1 })).map((c) => c.toolCallId), ['c2']);
      assert.deepEqual((await index.find({ subject: 'user:bob', argsDigest: 'd1', since: 0, limit: 10 })).map((c) => c.toolCallId), ['c3'], 'another identity sees only its own');
      assert.deepEqual(await index.find({ subject: 'user:carol', argsDigest: 'd1', since: 0, limit: 10 }), []);
    });

    it('a note forgets what is older than the window (the index stays bounded)', async () => {
      await index.note([call({ toolCallId: 'c5', at: 10_000, exchangeId: 'ex_5' })], 2500);
      const left = await index.find({ subject: 'user:alice', argsDigest: 'd1', since: 0, limit: 10 });
      assert.deepEqual(left.map((c) => c.toolCallId), ['c5']);
      assert.deepEqual((await index.find({ subject: 'user:bob', argsDigest: 'd1', since: 0, limit: 10 })).map((c) => c.toolCallId), ['c3']);
      await index.note([], 20_000);
      assert.deepEqual(await index.find({ subject: 'user:alice', argsDigest: 'd1', since: 0, limit: 10 }), []);
    });
  });
}

conformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-toolcalls-'));
  const store = await openStore(`sqlite:${join(dir, 'p.db')}`, { baseDir: dir });
  return { store, close: () => store.close() };
});

conformance('postgres', async () => {
  const pg: TestPostgres = await startTestPostgres();
  const store = await openStore(pg.url, { baseDir: tmpdir() });
  return {
    store,
    close: async () => {
      await store.close();
      await pg.stop();
    },
  };
});
