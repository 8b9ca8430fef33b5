import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { argumentsDigest } from '../../src/audit/tool-calls.ts';
import { findModelToolCall, type McpCorrelation } from '../../src/mcp/correlate.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/ports.ts';
import { toolCallIndexFor } from '../../src/store/tool-call-index.ts';

/**
 * `mcp.correlation_window_ms` (docs/mcp.md#correlation): an MCP call is linked to a model's tool call noted at most
 * that long before it, on the store's real index (SQLite); explicit times, so nothing depends on how fast the
 * machine is.
 */
describe('MCP correlation window (mcp.correlation_window_ms)', () => {
  let store: Store;
  const key = createSecretKey(randomBytes(32));
  const NOTED_AT = 1_800_000_000_000;
  const args = { city: 'Paris', unit: 'celsius' };

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-corr-window-'));
    store = await openStore(`sqlite:${join(dir, 'p.db')}`, { baseDir: dir });
    await toolCallIndexFor(store)!.note([{
      subject: 'user:alice', argsDigest: argumentsDigest(key, args)!, at: NOTED_AT, exchangeId: 'ex_model', toolCallId: 'call_1', name: 'get_weather',
    }], 0);
  });
  after(async () => store?.close());

  const lookup = (windowMs: number, now: number) => {
    const c: McpCorrelation = { index: toolCallIndexFor(store)!, key, windowMs };
    return findModelToolCall(c, { subject: 'user:alice', server: 'dev', tool: 'get_weather', args, now });
  };

  it('a call inside a short window is linked, up to its last millisecond', async () => {
    assert.deepEqual(await lookup(5_000, NOTED_AT + 1_000), { exchange_id: 'ex_model', tool_call_id: 'call_1' });
    assert.deepEqual(await lookup(5_000, NOTED_AT + 5_000), { exchange_id: 'ex_model', tool_call_id: 'call_1' });
  });

  it('a call outside it is not linked; a longer window links the same call', async () => {
    assert.equal(await lookup(5_000, NOTED_AT + 5_001), undefined);
    assert.equal(await lookup(5_000, NOTED_AT + 3_600_000), undefined);
    assert.deepEqual(await lookup(7_200_000, NOTED_AT + 3_600_000), { exchange_id: 'ex_model', tool_call_id: 'call_1' });
  });
});
