import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createHttpSink } from '../../src/events/sinks/http.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { sqliteOutboxRepo } from '../../src/store/sqlite/outbox.ts';
import { idsOf, pipelineOf, startCollector, tempDir, testConfig, waitFor } from './helpers.ts';

describe('kill -9 mid-traffic, restart: the outbox resumes and nothing is missing', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('every event whose emit resolved before SIGKILL is delivered after the restart', async () => {
    const dir = tempDir();
    const db = join(dir, 'p.db');
    const col = await startCollector();
    cleanups.push(() => col.close());
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'emitter.ts'), db, join(dir, 'spill.jsonl'), col.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(async () => void child.kill('SIGKILL'));
    const accepted: string[] = [];
    let partial = '';
    child.stdout.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      accepted.push(...lines);
    });
    // Kill while both emitting and delivering are under way.
    await waitFor(() => accepted.length >= 300 && col.received.length > 0, 20_000, 'traffic in the child');
    child.kill('SIGKILL');
    await once(child, 'exit');
    const deliveredBefore = new Set(idsOf(col.received)).size;
    assert.ok(deliveredBefore < accepted.length, 'the crash left undelivered events behind');

    const store = await SqliteStore.open({ path: db, synchronous: 'normal' });
    cleanups.push(() => store.close());
    const sink = createHttpSink({ name: 'siem', format: 'http', url: col.url, batchSize: 100, timeoutMs: 2_000, headers: {}, sourcetype: 's', source: 's', productVersion: 't' }, 'h');
    const p = pipelineOf({ outbox: sqliteOutboxRepo(store), sinks: [sink], config: testConfig({ spill_path: join(dir, 'spill.jsonl') }) });
    cleanups.push(() => p.close());
    await p.start();
    await waitFor(async () => (await p.health()).sinks[0]?.backlog === 0, 20_000, 'backlog delivered after restart');
    const delivered = new Set(idsOf(col.received));
    const missing = accepted.filter((id) => !delivered.has(id));
    assert.deepEqual(missing, [], 'no accepted event is missing');
    const ids = idsOf(col.received);
    const firstSeen = ids.filter((id, i) => ids.indexOf(id) === i);
    assert.deepEqual(firstSeen, [...firstSeen].sort(), 'first deliveries follow emit order');
  });
});
