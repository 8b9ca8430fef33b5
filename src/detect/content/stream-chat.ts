/**
 * OpenAI Chat Completions and legacy Completions streams (`data: {chunk}` … `data: [DONE]`). Channels: per
 * choice, `delta.content`, `delta.refusal`, each `delta.tool_calls[].function.arguments` (by tool-call index) and
 * the legacy `function_call.arguments`; for Completions, `choices[].text`. A choice's channels are flushed when
 * its `finish_reason` arrives: into the finishing chunk's own delta for channels it carries, otherwise into a
 * chunk inserted before it with the same id/model envelope. `logprobs` are nulled: they repeat raw tokens.
 */
import { Channels } from './channels.ts';
import type { ContentOptions, StreamEvent, StreamRewriter } from './types.ts';
import { mapArray, mapKey, rec, type Rec } from './walk.ts';

type Field = 'content' | 'refusal' | 'tool' | 'fn' | 'text';

interface Meta {
  readonly choice: number;
  readonly field: Field;
  readonly tool?: number;
}

export class ChatStreamRewriter implements StreamRewriter {
  readonly #ch: Channels<Meta>;
  readonly #legacy: boolean;
  readonly #scanning: boolean;
  /** The latest chunk: flush chunks copy its envelope (id, object, created, model, system_fingerprint). */
  #last: Rec = {};

  constructor(opts: ContentOptions, legacy: boolean) {
    this.#ch = new Channels<Meta>(opts);
    this.#legacy = legacy;
    this.#scanning = opts.scanners.response !== undefined;
  }

  get findings() {
    return this.#ch.findings;
  }

  get maxHeld(): number {
    return this.#ch.maxHeld;
  }

  onEvent(ev: StreamEvent): StreamEvent[] {
    if (ev.data === '[DONE]') return [...this.#flush(() => true), ev];
    const chunk = rec(ev.data);
    if (!chunk || !Array.isArray(chunk.choices)) return [ev];
    this.#last = chunk;
    const before: StreamEvent[] = [];
    const data = mapKey(chunk, 'choices', (cs) => mapArray(cs, (c, i) => this.#choice(c, i, before)));
    return [...before, data === chunk ? ev : { ...ev, data }];
  }

  end(): StreamEvent[] {
    return this.#flush(() => true);
  }

  #choice(c: unknown, position: number, before: StreamEvent[]): unknown {
    const r = rec(c);
    if (!r) return c;
    const idx = typeof r.index === 'number' ? r.index : position;
    const finishing = r.finish_reason !== null && r.finish_reason !== undefined;
    const text = (field: Field, tool: number | undefined, path: () => string) => (v: unknown) => {
      if (typeof v !== 'string') return v;
      const key = `${idx}:${field}:${tool ?? ''}`;
      const open = () => ({ meta: { choice: idx, field, tool }, path: path(), kind: field === 'tool' || field === 'fn' ? 'json' : 'text' }) as const;
      return this.#ch.push(key, v, open) + (finishing ? this.#ch.end(key) : '');
    };
    let out: unknown;
    if (this.#legacy) {
      out = mapKey(r, 'text', text('text', undefined, () => `choices[${idx}].text`));
    } else {
      // Paths name where the text ends up in the assembled message.
      const p = `choices[${idx}].message`;
      out = mapKey(r, 'delta', (d) => {
        let nd = mapKey(d, 'content', text('content', undefined, () => `${p}.content`));
        if (rec(d)?.refusal !== undefined) nd = mapKey(nd, 'refusal', text('refusal', undefined, () => `${p}.refusal`));
        if (rec(d)?.tool_calls !== undefined) {
          nd = mapKey(nd, 'tool_calls', (tcs) =>
            mapArray(tcs, (tc, j) => {
              const t = rec(tc)?.index;
              const tool = typeof t === 'number' ? t : j;
              const arg = text('tool', tool, () => `${p}.tool_calls[${tool}].function.arguments`);
              return mapKey(tc, 'function', (f) => mapKey(f, 'arguments', arg));
            }),
          );
        }
        if (rec(d)?.function_call !== undefined) {
          nd = mapKey(nd, 'function_call', (fc) => mapKey(fc, 'arguments', text('fn', undefined, () => `${p}.function_call.arguments`)));
        }
        return nd;
      });
    }
    if (finishing) before.push(...this.#flush((m) => m.choice === idx));
    if (this.#scanning && rec(out)?.logprobs != null) out = { ...rec(out), logprobs: null };
    return out;
  }

  /** One chunk per open channel carrying its held text, in the provider's chunk shape. */
  #flush(filter: (m: Meta) => boolean): StreamEvent[] {
    const out: StreamEvent[] = [];
    for (const { key, meta } of this.#ch.openKeys(filter)) {
      const text = this.#ch.end(key);
      if (text === '') continue;
      const { choices: _c, usage: _u, ...envelope } = this.#last;
      out.push({ data: { ...envelope, choices: [this.#flushChoice(meta, text)] } });
    }
    return out;
  }

  #flushChoice(m: Meta, text: string): Rec {
    if (m.field === 'text') return { index: m.choice, text, logprobs: null, finish_reason: null };
    const delta =
      m.field === 'tool'
        ? { tool_calls: [{ index: m.tool, function: { arguments: text } }] }
        : m.field === 'fn'
          ? { function_call: { arguments: text } }
          : { [m.field]: text };
    return { index: m.choice, delta, finish_reason: null };
  }
}
