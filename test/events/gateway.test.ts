import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { parseApiKey } from '../../src/crypto/api-keys.ts';
import type { ExchangeObserver } from '../../src/audit/exchange-observer.ts';
import type { IdentityEvent } from '../../src/identity/events.ts';
import type { EventPipeline } from '../../src/events/pipeline.ts';
import { createHttpSink } from '../../src/events/sinks/http.ts';
import { openOutboxRepo } from '../../src/store/outbox-repo.ts';
import { PROVIDER_KEY_OPENAI, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { pipelineOf, startCollector, testConfig, waitFor, type Collector } from './helpers.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * End to end: a real gateway with the events pipeline as an exchange observer and identity listener, driven by
 * the OpenAI SDK; events arrive at a real HTTP collector and carry metadata only.
 */
describe('gateway exchanges and authentication become OCSF events', () => {
  let t: TestGateway;
  let col: Collector;
  let pipeline: EventPipeline | undefined;
  const PROMPT = 'my card is 4111 1111 1111 1111 and mail bob@example.com';

  before(async () => {
    col = await startCollector();
    // The pipeline needs the gateway's store, the gateway needs the observer: delegate once both exist.
    const observer: ExchangeObserver = {
      name: 'events',
      onStart: (s) => pipeline?.exchangeObserver.onStart?.(s) ?? Promise.resolve(),
      onFinish: (s, f) => pipeline?.exchangeObserver.onFinish?.(s, f) ?? Promise.resolve(),
    };
    t = await startTestGateway({ observers: [observer], onIdentityEvent: (e: IdentityEvent) => pipeline?.identityEmit(e) });
    const sink = createHttpSink({ name: 'siem', format: 'http', url: col.url, batchSize: 50, timeoutMs: 2_000, headers: {}, sourcetype: 's', source: 's', productVersion: 't' }, 'h');
    pipeline = pipelineOf({ outbox: openOutboxRepo(t.gw.store), sinks: [sink], config: testConfig({ spill_path: join(t.dir, 'spill.jsonl') }) });
    await pipeline.start();
  });

  after(async () => {
    await pipeline?.close();
    await t?.close();
    await col?.close();
  });

  const events = (): Json[] => col.received.flatMap((r) => JSON.parse(r.body) as Json[]);

  it('a chat completion yields one API Activity event with identity, model, usage — and no content or keys', async () => {
    const client = new OpenAI({ apiKey: t.userKey, baseURL: t.openaiBase, maxRetries: 0 });
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] }).withResponse();
    const exchangeId = res.response.headers.get('x-portcullis-exchange-id');
    assert.ok(exchangeId);
    await waitFor(() => events().some((e) => e.metadata.correlation_uid === exchangeId), 10_000, 'exchange event');
    const ev = events().find((e) => e.metadata.correlation_uid === exchangeId)!;
    assert.equal(ev.class_uid, 6003);
    assert.equal(ev.metadata.uid, `evt_${exchangeId}`);
    assert.equal(ev.metadata.event_code, 'exchange.completed');
    assert.deepEqual(ev.actor.user.groups, [{ name: 'eng' }]);
    assert.equal(ev.unmapped.portcullis.model, 'gpt-4o-mini');
    assert.equal(ev.unmapped.portcullis.provider, 'openai');
    assert.equal(ev.api.response.code, 200);
    assert.equal(typeof ev.unmapped.portcullis.usage.total_tokens, 'number');
    const raw = JSON.stringify(events());
    for (const needle of [PROMPT, '4111 1111', 'bob@example.com', PROVIDER_KEY_OPENAI, t.userKey, parseApiKey(t.userKey)!.secretPart]) {
      assert.ok(!raw.includes(needle), `events must not contain ${needle.slice(0, 12)}…`);
    }
  });

  it('a forged key yields an Authentication failure event without the presented secret', async () => {
    const forged = t.userKey.slice(0, -6) + 'AAAAAA';
    const client = new OpenAI({ apiKey: forged, baseURL: t.openaiBase, maxRetries: 0 });
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => err instanceof OpenAI.AuthenticationError);
    await waitFor(() => events().some((e) => e.class_uid === 3002 && e.status_id === 2), 10_000, 'authentication failure event');
    const ev = events().find((e) => e.class_uid === 3002 && e.status_id === 2)!;
    assert.equal(ev.metadata.event_code, 'auth.token.rejected');
    assert.ok(!JSON.stringify(events()).includes(parseApiKey(forged)!.secretPart), 'the presented secret is not in any event');
  });
});
