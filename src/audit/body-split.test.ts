import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { seeded } from '../../test/detect/seeded.ts';
import { Keyring } from '../crypto/keyring.ts';
import { sharedPrefix, splitRanges } from './body-split.ts';
import { assembleBody, KnownMessages, MessageBatch, messageScope } from './dedup.ts';

/** A deterministic generator, so a failure names a seed that reproduces it. */
const rng = (seed: number): (() => number) => seeded(seed).next;

/**
 * The turns of one conversation as an agent sends them: mostly the last body plus new messages, sometimes with an
 * earlier message edited, removed, or the body cut short (malformed), with short and long messages and numbers.
 */
function turns(seed: number): Buffer[] {
  const r = rng(seed);
  const text = (): string => 'word "q" \\ é '.repeat(Math.floor(r() * 40));
  const messages: unknown[] = [];
  const out: Buffer[] = [];
  for (let t = 0; t < 25; t++) {
    const roll = r();
    if (roll < 0.1 && messages.length > 2) messages[Math.floor(r() * messages.length)] = { role: 'user', content: text() };
    else if (roll < 0.15 && messages.length > 2) messages.splice(Math.floor(r() * messages.length), 1);
    messages.push({ role: t % 2 ? 'assistant' : 'user', content: text() }, ...(r() < 0.3 ? [12345678901234567890] : []));
    const body = JSON.stringify({ model: 'm', system: text(), messages, ...(r() < 0.5 ? { max_tokens: 100 } : {}) });
    out.push(Buffer.from(r() < 0.05 ? body.slice(0, Math.floor(r() * body.length)) : body));
  }
  return out;
}

describe('splitRanges with the previous turn as a hint', () => {
  it('finds exactly the ranges of a scan without it, turn after turn', () => {
    for (let seed = 1; seed <= 60; seed++) {
      let previous: { body: Buffer; ranges: [number, number][] } | undefined;
      for (const body of turns(seed)) {
        const hint = previous && { ranges: previous.ranges, shared: sharedPrefix(body, previous.body) };
        const got = splitRanges(body, hint);
        assert.deepEqual(got, splitRanges(body), `seed ${seed}`);
        if (got) previous = { body, ranges: got };
      }
    }
  });

  it('sharedPrefix is the length of the longest common prefix', () => {
    const r = rng(7);
    for (let k = 0; k < 200; k++) {
      const a = randomBytes(Math.floor(r() * 20000));
      const cut = Math.floor(r() * (a.length + 1));
      const b = Buffer.concat([a.subarray(0, cut), Buffer.from([a[cut] === undefined ? 1 : a[cut] ^ 1]), randomBytes(Math.floor(r() * 100))]);
      assert.equal(sharedPrefix(a, b), cut);
      assert.equal(sharedPrefix(b, a), cut);
    }
  });
});

describe('MessageBatch skeleton with the previous turn', () => {
  it('encodes the same skeleton as without it, and the skeleton gives back the exact body', async () => {
    const keyring = new Keyring(randomBytes(32));
    const scope = messageScope(keyring, 'user:a', 'conv');
    for (let seed = 100; seed < 130; seed++) {
      const known = new KnownMessages();
      const stored = new Map<string, Buffer>();
      for (const body of turns(seed)) {
        const hinted = new MessageBatch(keyring, scope, known.get(scope.id, 0));
        const skeleton = hinted.skeleton(body, true);
        const fresh = new MessageBatch(keyring, scope, undefined).skeleton(body, true);
        assert.ok(skeleton.equals(fresh), `seed ${seed}: same skeleton bytes`);
        // The upstream body, edited at the end (usage probe) or the front (reroute), is compared with the client's.
        const text = body.toString();
        for (const upstream of [text.replace(/}$/, ',"stream_options":{"include_usage":true}}'), text.replace('"model":"m"', '"model":"upstream-m"')]) {
          const before = hinted.added.size;
          const up = hinted.skeleton(Buffer.from(upstream));
          assert.ok(up.equals(new MessageBatch(keyring, scope, undefined).skeleton(Buffer.from(upstream))), `seed ${seed}: same upstream skeleton`);
          assert.equal(hinted.added.size, before, 'nothing new to store for an edit outside the messages');
        }
        for (const [ref, sealed] of hinted.added) stored.set(ref, sealed);
        const back = await assembleBody(keyring, skeleton, async (_s, refs) => refs.map((ref) => ({ ref, sealed: stored.get(ref)! })));
        assert.ok(back.equals(body), `seed ${seed}: exact bytes back`);
        known.add(scope.id, [...hinted.added.keys(), ...hinted.reused], 0, hinted.split);
      }
    }
  });
});
