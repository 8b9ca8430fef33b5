import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServerRequestLedger } from './server-requests.ts';

const at = (n: number) => ({ method: 'sampling/createMessage', at: n, recording: undefined, mono0: 0 });
const k = (subject: string, id: number) => ({ server: 's', session: undefined, subject, id });

describe('ServerRequestLedger: which agent answers are scanned on their way to the server', () => {
  it('keeps callers apart, queues a reused id, and forgets nothing it was given', () => {
    const l = new ServerRequestLedger();
    assert.equal(l.add(k('alice', 0), at(1)), true);
    assert.equal(l.add(k('alice', 0), at(2)), true);
    assert.equal(l.take(k('bob', 0), 3), undefined, 'another caller answering the id is not taken for alice\'s');
    assert.equal((l.take(k('alice', 0), 3) as { at: number }).at, 1);
    assert.equal((l.take(k('alice', 0), 3) as { at: number }).at, 2);
    assert.equal(l.take(k('alice', 0), 3), undefined);
  });

  it('fails closed: full of live entries, a new one is refused; an answer after the TTL is "expired"', () => {
    const l = new ServerRequestLedger({ max: 2, ttlMs: 100 });
    assert.equal(l.add(k('a', 1), at(0)), true);
    assert.equal(l.add(k('a', 2), at(50)), true);
    assert.equal(l.add(k('a', 3), at(60)), false, 'not evicting a live entry');
    assert.equal(l.add(k('a', 3), at(120)), true, 'an expired entry makes room');
    assert.equal(l.take(k('a', 2), 200), 'expired');
  });
});
