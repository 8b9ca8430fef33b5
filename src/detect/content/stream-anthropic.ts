/**
 * Anthropic Messages streams: one channel per content block index, fed by `content_block_delta` events
 * (`text_delta` → text, `input_json_delta` → raw JSON of tool_use input). `content_block_stop` flushes the
 * block's held text as one more delta of its type just before the stop; `message_delta`/`message_stop` flush
 * anything still open. Deltas that carry nothing after holding are dropped (Anthropic events have no sequence
 * numbers). Thinking, signature and citation deltas pass unchanged.
 */
import { anthropicBlocks } from './request.ts';
import { Channels } from './channels.ts';
import type { ContentOptions, StreamEvent, StreamRewriter } from './types.ts';
import { mapKey, mapKeys, mapLeaves, rec, type Rec } from './walk.ts';

interface Meta {
  readonly index: number;
  readonly json: boolean;
}

export class AnthropicStreamRewriter implements StreamRewriter {
  readonly #ch: Channels<Meta>;

  constructor(opts: ContentOptions) {
    this.#ch = new Channels<Meta>(opts);
  }

  get findings() {
    return this.#ch.findings;
  }

  get maxHeld(): number {
    return this.#ch.maxHeld;
  }

  onEvent(ev: StreamEvent): StreamEvent[] {
    const d = rec(ev.data);
    const out = d ? this.#rewrite(ev, d) : [ev];
    this.#ch.throwIfBlocked();
    return out;
  }

  end(): StreamEvent[] {
    return this.#flush(() => true);
  }

  #rewrite(ev: StreamEvent, d: Rec): StreamEvent[] {
    const index = typeof d.index === 'number' ? d.index : -1;
    switch (d.type) {
      case 'content_block_delta':
        return this.#delta(ev, d, index);
      case 'content_block_stop':
        return [...this.#flush((m) => m.index === index), ev];
      case 'content_block_start': {
        const block = mapKeys(d.content_block, {
          text: (t) => (typeof t === 'string' && t !== '' ? this.#push(index, false, t) : t),
          input: (x) => mapLeaves(x, `content[${index}].input#`, this.#ch.whole),
        });
        return [block === d.content_block ? ev : { ...ev, data: { ...d, content_block: block } }];
      }
      case 'message_start': {
        const message = mapKey(d.message, 'content', (c) => anthropicBlocks(c, 'content', this.#ch.whole));
        return [message === d.message ? ev : { ...ev, data: { ...d, message } }];
      }
      case 'message_delta':
      case 'message_stop':
        return [...this.#flush(() => true), ev];
      default:
        return [ev];
    }
  }

  #delta(ev: StreamEvent, d: Rec, index: number): StreamEvent[] {
    const delta = rec(d.delta);
    let out: string;
    if (delta?.type === 'text_delta' && typeof delta.text === 'string') {
      out = this.#push(index, false, delta.text);
      return out === '' ? [] : [{ ...ev, data: { ...d, delta: { ...delta, text: out } } }];
    }
    if (delta?.type === 'input_json_delta' && typeof delta.partial_json === 'string') {
      out = this.#push(index, true, delta.partial_json);
      return out === '' ? [] : [{ ...ev, data: { ...d, delta: { ...delta, partial_json: out } } }];
    }
    return [ev];
  }

  #push(index: number, json: boolean, text: string): string {
    const open = () => ({
      meta: { index, json },
      path: json ? `content[${index}].input` : `content[${index}].text`,
      kind: json ? ('json' as const) : ('text' as const),
    });
    return this.#ch.push(String(index), text, open);
  }

  #flush(filter: (m: Meta) => boolean): StreamEvent[] {
    const out: StreamEvent[] = [];
    for (const { key, meta } of this.#ch.openKeys(filter)) {
      const text = this.#ch.end(key);
      if (text === '') continue;
      const delta = meta.json ? { type: 'input_json_delta', partial_json: text } : { type: 'text_delta', text };
      out.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index: meta.index, delta } });
    }
    return out;
  }
}
