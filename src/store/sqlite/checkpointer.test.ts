import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { newId } from '../../core/ids.ts';
import type { ExchangeStart } from '../ports.ts';
import { WRITER_CHECKPOINT_PAGES } from './core.ts';
import { SqliteStore } from './index.ts';

const start = (body: Buffer): ExchangeStart => ({
  id: newId('ex'), startedAt: Date.now(), subject: 'user:alice', principal: { kind: 'user' }, endpoint: 'openai.chat', method: 'POST',
  path: '/v1/chat/completions', model: 'gpt-4o', provider: 'mock', upstreamModel: 'gpt-4o', stream: false, clientIp: null, userAgent: null,
  decision: null, findings: [], clientRequest: body, upstreamRequest: null,
});

test('committed pages reach the database file by the checkpointer thread, long before the writer would checkpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-ckpt-'));
  const path = join(dir, 'db.sqlite');
  const store = await SqliteStore.open({ path, synchronous: 'normal' });
  try {
    // ~600 KB of recorded bodies: ~150 pages, far below the writer's own threshold.
    const ids: string[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const starts = Array.from({ length: 30 }, () => start(randomBytes(1000)));
      await Promise.all(starts.map((s) => store.exchanges.start(s)));
      ids.push(...starts.map((s) => s.id));
    }
    assert.ok(600_000 < WRITER_CHECKPOINT_PAGES * 4096, 'the writer alone would not have checkpointed yet');
    // Until a checkpoint copies them, committed pages live only in the -wal file.
    const deadline = Date.now() + 10_000;
    while (statSync(path).size < 600_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(statSync(path).size >= 600_000, `database file ${statSync(path).size} bytes: nothing was checkpointed`);
    await store.close();
    const again = await SqliteStore.open({ path, synchronous: 'normal' });
    assert.equal((await again.exchanges.get(ids[ids.length - 1]!))?.id, ids[ids.length - 1]);
    await again.close();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
