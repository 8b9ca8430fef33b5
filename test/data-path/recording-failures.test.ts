import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { systemClock } from '../../src/core/clock.ts';
import { compileContentPolicy } from '../../src/detect/policy-content.ts';
import { createGovernedGuard } from '../../src/governance/guard.ts';
import { SealedTokenVault } from '../../src/governance/token-vault.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import type { ExchangeRepo } from '../../src/store/ports.ts';
import { fakeCredential } from '../helpers/fake-credentials.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * A store that fails while the gateway records: every path answers 503 in the caller's protocol (the documented
 * `recording_failed`, or `auth_unavailable` when the credential itself cannot be looked up), never 500 `internal`,
 * and nothing reaches the provider unrecorded.
 */
describe('store failures while recording', () => {
  let t: TestGateway;
  const GITHUB = fakeCredential.github(); // made at run time, never a live secret
  before(async () => {
    t = await startTestGateway();
    t.gw.setGuard(createGovernedGuard({
      content: compileContentPolicy({ rules: [{ id: 'no-secrets', types: ['SECRET_*'], action: 'block' }] }),
      decider: undefined,
      vault: new SealedTokenVault({ repo: t.gw.store.tokenVault, keyring: t.gw.keyring, clock: systemClock, ttlMs: 60_000 }),
    }));
  });
  after(() => t.close());

  const post = async (path: string, body: unknown, key = t.userKey) => {
    const res = await fetch(`${t.gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Json, id: res.headers.get('x-portcullis-exchange-id')! };
  };
  /** Replaces one method of the exchange repository with a failing one for the duration of `f`. */
  const failing = async <T>(method: keyof ExchangeRepo, f: () => Promise<T>): Promise<T> => {
    const repo = t.gw.store.exchanges as unknown as Record<string, unknown>;
    const orig = repo[method];
    repo[method] = () => Promise.reject(new Error('disk I/O error'));
    try {
      return await f();
    } finally {
      repo[method] = orig;
    }
  };

  it('a refusal that cannot be recorded answers 503 recording_failed (OpenAI and Anthropic), not the unrecorded refusal', async () => {
    const upstreamBefore = t.mock.received.length;
    await failing('recordRejected', async () => {
      const blocked = await post('/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: `key ${GITHUB}` }] });
      assert.equal(blocked.status, 503);
      assert.equal(blocked.body.error.code, 'recording_failed');
      assert.ok(!JSON.stringify(blocked.body).includes('disk I/O'), 'the store error is not exposed');
      const unknown = await post('/v1/chat/completions', { model: 'no-such-model', messages: [] });
      assert.equal(unknown.status, 503);
      assert.equal(unknown.body.error.code, 'recording_failed');
      const anthropic = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
      await assert.rejects(anthropic.messages.create({ model: 'claude-mock-1', max_tokens: 8, messages: [{ role: 'user', content: GITHUB }] }), (err: InstanceType<typeof Anthropic.APIError>) => {
        assert.equal(err.status, 503);
        assert.equal((err.error as Json).error.portcullis_code, 'recording_failed');
        return true;
      });
    });
    assert.equal(t.mock.received.length, upstreamBefore, 'nothing reached the provider');
    // With the store back, the same refusal is recorded and answered as itself.
    const blocked = await post('/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: `key ${GITHUB}` }] });
    assert.equal(blocked.body.error.code, 'content_blocked');
    assert.equal((await t.gw.store.exchanges.get(blocked.id))?.errorCode, 'content_blocked');
  });

  it('an observer that cannot record a refusal (the audit chain, the events outbox) also makes it 503 recording_failed', async () => {
    let armed = false;
    const g = await startTestGateway({ observers: [{ name: 'failing-chain', onStart: () => (armed ? Promise.reject(new Error('chain append failed')) : Promise.resolve()) }] });
    try {
      armed = true;
      const res = await fetch(`${g.openaiBase}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${g.userKey}` }, body: JSON.stringify({ model: 'no-such-model', messages: [] }) });
      const body = (await res.json()) as Json;
      assert.equal(res.status, 503);
      assert.equal(body.error.code, 'recording_failed');
      assert.ok(!JSON.stringify(body).includes('chain append'));
    } finally {
      await g.close();
    }
  });

  it('a start record that fails is 503 recording_failed and the upstream sees nothing', async () => {
    const upstreamBefore = t.mock.received.length;
    const r = await failing('start', () => post('/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }));
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, 'recording_failed');
    assert.equal(t.mock.received.length, upstreamBefore);
  });

  it('a key that cannot be looked up because the store is down is 503 auth_unavailable, not 500 internal', async () => {
    const { secret } = await createApiKey(t.gw.store.apiKeys, { name: 'bob', kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 'test' }, Date.now());
    const keys = t.gw.store.apiKeys as unknown as Record<string, unknown>;
    const saved = new Map<string, unknown>();
    const names = new Set([...Object.keys(keys), ...Object.getOwnPropertyNames(Object.getPrototypeOf(keys))]);
    for (const k of names) {
      if (typeof keys[k] === 'function' && k !== 'constructor') {
        saved.set(k, keys[k]);
        keys[k] = () => Promise.reject(new Error('database is closed'));
      }
    }
    try {
      const upstreamBefore = t.mock.received.length;
      const r = await post('/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, secret);
      assert.equal(r.status, 503);
      assert.equal(r.body.error.code, 'auth_unavailable');
      assert.equal(t.mock.received.length, upstreamBefore);
    } finally {
      for (const [k, v] of saved) keys[k] = v;
    }
  });
});
