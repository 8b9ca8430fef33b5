import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GatewayLogger, LogFields } from '../core/logger.ts';
import type { SecurityEvent } from '../events/types.ts';
import { credentialRefusedAlert } from './credential-alert.ts';

describe('credentialRefusedAlert', () => {
  it('one event and one log line per provider, status and window; a failing emit is logged, not thrown', async () => {
    let now = 120_000;
    const events: SecurityEvent[] = [];
    const logs: LogFields[] = [];
    const logger: GatewayLogger = { info: () => undefined, debug: () => undefined, warn: (f) => void logs.push(f), error: (f) => void logs.push(f) };
    let fail = false;
    const alert = credentialRefusedAlert({
      clock: { now: () => now, mono: () => now }, logger, windowMs: 60_000,
      emit: (e) => (fail ? Promise.reject(new Error('outbox full')) : (events.push(e), Promise.resolve())),
    });
    for (let i = 0; i < 5; i++) alert({ provider: 'openai', status: 401, exchangeId: `ex_${i}` });
    alert({ provider: 'openai', status: 403, exchangeId: 'ex_a' });
    alert({ provider: 'anthropic', status: 401, exchangeId: 'ex_b' });
    now += 60_000;
    alert({ provider: 'openai', status: 401, exchangeId: 'ex_c' });
    assert.deepEqual(events.map((e) => [e.type === 'credential.refused' && e.provider, e.type === 'credential.refused' && e.upstreamStatus, e.id]), [
      ['openai', 401, 'credential.refused:openai:401:2'], ['openai', 403, 'credential.refused:openai:403:2'],
      ['anthropic', 401, 'credential.refused:anthropic:401:2'], ['openai', 401, 'credential.refused:openai:401:3'],
    ]);
    assert.equal(events[0]?.outcome, 'failure');
    assert.equal(logs.filter((l) => l.event === 'upstream_credential_refused').length, 4);
    fail = true;
    now += 60_000;
    alert({ provider: 'openai', status: 401, exchangeId: 'ex_d' });
    await new Promise((r) => setImmediate(r));
    assert.ok(logs.some((l) => l.event === 'credential_alert_failed'));
  });
});
