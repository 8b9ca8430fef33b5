/**
 * Zero leaks at any split (issue 5, "Streaming must hold"): every test entity is split at every character
 * position across chunk boundaries, in the answer text and in tool-call arguments, with the two channels
 * interleaved, for each streaming protocol. The client's reassembled text must be exactly the masked text,
 * tokenized values must come back exactly, framing must stay valid, and a failing scanner must end the stream
 * without releasing unchecked text. Hold-back is reported in characters.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { isGatewayError } from '../src/core/errors.ts';
import { createRequestTransform, createStreamRewriter, type ContentOptions, type StreamEvent } from '../src/detect/content/index.ts';
import { assemble, pipe, upstream, type Piece, type StreamApi } from '../src/detect/content/testing.ts';
import { ENTITIES, resolver, standInScanner } from '../src/detect/stream/testing.ts';
import { ConversationTokenizer } from '../src/detect/tokenize/tokenizer.ts';

const APIS: readonly StreamApi[] = ['openai.chat', 'openai.responses', 'anthropic.messages'];
// Longer than the stand-in's bounded window (346), so text is released mid-stream, not only at the end.
const PAD = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. '.repeat(6);
const scanner = standInScanner();

/** Content split at i, arguments split at the same place in the entity, interleaved c t c t (+ extra cuts). */
function splits(c: string, t: string, i: number, extra: number): Piece[] {
  const shift = t.indexOf(PAD.slice(0, 20)) ;
  const j = Math.min(t.length, i + shift);
  const cuts = (s: string, k: number) => [s.slice(0, k), s.slice(k, k + extra), s.slice(k + extra)];
  const [c1, c2, c3] = cuts(c, i);
  const [t1, t2, t3] = cuts(t, j);
  return [
    { ch: 'c', text: c1! },
    { ch: 't', text: t1! },
    { ch: 'c', text: c2! },
    { ch: 't', text: t2! },
    { ch: 'c', text: c3! },
    { ch: 't', text: t3! },
  ];
}

function run(api: StreamApi, opts: ContentOptions, pieces: Piece[]) {
  const rw = createStreamRewriter(api, opts);
  const out = assemble(api, pipe(rw, upstream(api, pieces)));
  return { ...out, maxHeld: rw.maxHeld };
}

for (const e of ENTITIES) {
  test(`mask ${e.type} (${e.value.length} chars): every split position, every protocol, text and tool args`, (t) => {
    const text = `${PAD}${e.value} tail.`;
    const args = JSON.stringify({ note: text });
    const want = `${PAD}[${e.type}] tail.`;
    const wantArgs = JSON.stringify({ note: want });
    const opts: ContentOptions = { scanners: { response: scanner }, actionFor: resolver('mask') };
    const held: Record<string, number> = {};
    let runs = 0;
    for (const api of APIS) {
      for (let i = 0; i <= text.length; i++) {
        for (const extra of [0, 1, 5]) {
          const r = run(api, opts, splits(text, args, i, extra));
          runs++;
          assert.equal(r.content, want, `${api} content split at ${i}+${extra}`);
          assert.equal(r.args, wantArgs, `${api} args split at ${i}+${extra}`);
          held[api] = Math.max(held[api] ?? 0, r.maxHeld);
        }
      }
      // One character per delta: the worst case for hold-back bookkeeping.
      const chars: Piece[] = [...text].map((ch) => ({ ch: 'c', text: ch }));
      const r = run(api, opts, [...chars, ...[...args].map((ch): Piece => ({ ch: 't', text: ch }))]);
      assert.equal(r.content, want);
      assert.equal(r.args, wantArgs);
    }
    t.diagnostic(`runs=${runs} max hold-back (chars) ${JSON.stringify(held)} window=${scanner.maxBoundedMatchLength}`);
  });
}

test('tokenized values are restored exactly in streamed text and tool arguments, at every split', (t) => {
  for (const e of ENTITIES) {
    const tok = new ConversationTokenizer();
    const text = `${PAD}${e.value} tail.`;
    const req = createRequestTransform('openai.chat', { scanners: { request: scanner }, actionFor: resolver('tokenize'), tokenizer: tok })({
      messages: [{ role: 'user', content: text }],
    });
    const sent = (req.body as { messages: { content: string }[] }).messages[0]!.content;
    assert.ok(!sent.includes(e.value) && sent.includes('\u27e6'), 'the provider sees a placeholder');
    const echoArgs = JSON.stringify({ note: sent });
    // A response scanner with `mask` is on too: restored values are the user's own and are not masked again.
    const opts: ContentOptions = { scanners: { response: scanner }, actionFor: resolver('mask'), tokenizer: tok };
    let maxHeld = 0;
    for (const api of APIS) {
      for (let i = 0; i <= sent.length; i++) {
        const r = run(api, opts, splits(sent, echoArgs, i, 1));
        assert.equal(r.content, text, `${e.type} ${api} split ${i}`);
        assert.equal(r.args, JSON.stringify({ note: text }), `${e.type} ${api} args split ${i}`);
        maxHeld = Math.max(maxHeld, r.maxHeld);
      }
    }
    t.diagnostic(`${e.type}: restored at ${sent.length + 1} split positions × ${APIS.length} protocols; max hold-back ${maxHeld}`);
  }
});

test('fail closed: a scanner that fails mid-stream ends it with evaluation_error, nothing unchecked released', () => {
  const e = ENTITIES[0]!;
  const text = `${PAD}${e.value} ${PAD}`;
  const want = `${PAD}[${e.type}] ${PAD}`;
  for (const api of APIS) {
    for (let after = 0; after < 8; after++) {
      const rw = createStreamRewriter(api, { scanners: { response: standInScanner({ throwAfter: after }) }, actionFor: resolver('mask') });
      const events = upstream(api, [...text.match(/[\s\S]{1,40}/g)!].map((s): Piece => ({ ch: 'c', text: s })));
      const released: StreamEvent[] = [];
      assert.throws(
        () => {
          for (const ev of events) released.push(...rw.onEvent(ev));
          released.push(...rw.end());
        },
        (err: unknown) => isGatewayError(err) && err.code === 'evaluation_error',
        `${api} after ${after}`,
      );
      const seen = JSON.stringify(released);
      assert.ok(!seen.includes(e.value));
      let content = '';
      for (const ev of released) {
        const d = ev.data as { choices?: { delta?: { content?: string } }[]; type?: string; delta?: unknown };
        content += d.choices?.[0]?.delta?.content ?? '';
        if (d.type === 'response.output_text.delta') content += d.delta as string;
        if (d.type === 'content_block_delta') content += (d.delta as { text?: string }).text ?? '';
      }
      assert.ok(want.startsWith(content), 'only checked text was released');
    }
  }
});
