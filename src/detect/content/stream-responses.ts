/**
 * OpenAI Responses streams (typed events, each with `type` and `sequence_number`). Channels: output_text and
 * refusal per (output_index, content_index), function-call arguments and custom-tool input per output_index.
 * Deltas are rewritten (dropped while everything is held); a `*.done` event first flushes its channel as a
 * delta of the same type, then carries the REWRITTEN full text, as do `content_part.done`,
 * `output_item.done` and the `response` object of `response.completed`/`failed`/`incomplete`. Sequence numbers
 * are renumbered so they stay consecutive when events are inserted or dropped.
 */
import { Channels } from './channels.ts';
import type { ContentOptions, StreamEvent, StreamRewriter, TextKind } from './types.ts';
import { mapArray, mapKey, mapKeys, rec, type Rec } from './walk.ts';

interface Meta {
  readonly delta: string;
  readonly ids: Rec;
}

interface Spec {
  readonly prefix: string;
  readonly doneField: string;
  readonly kind: TextKind;
  readonly withContent: boolean;
}

/** Event families that stream a text: `<prefix>.delta` / `<prefix>.done`. */
const SPECS: readonly Spec[] = [
  { prefix: 'response.output_text', doneField: 'text', kind: 'text', withContent: true },
  { prefix: 'response.refusal', doneField: 'refusal', kind: 'text', withContent: true },
  { prefix: 'response.function_call_arguments', doneField: 'arguments', kind: 'json', withContent: false },
  { prefix: 'response.custom_tool_call_input', doneField: 'input', kind: 'text', withContent: false },
];

export class ResponsesStreamRewriter implements StreamRewriter {
  readonly #ch: Channels<Meta>;
  #next: number | undefined;
  #named = false;

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
    const type = typeof d?.type === 'string' ? d.type : undefined;
    if (!d || !type) return [ev];
    if (ev.event !== undefined) this.#named = true;
    if (typeof d.sequence_number === 'number') this.#next ??= d.sequence_number;
    const out = this.#rewrite(ev, d, type);
    this.#ch.throwIfBlocked();
    return out.map((e) => this.#number(e));
  }

  end(): StreamEvent[] {
    return this.#flush(() => true).map((e) => this.#number(e));
  }

  #rewrite(ev: StreamEvent, d: Rec, type: string): StreamEvent[] {
    const spec = SPECS.find((s) => type === `${s.prefix}.delta` || type === `${s.prefix}.done`);
    if (spec) return type.endsWith('.delta') ? this.#delta(ev, d, spec) : this.#done(ev, d, spec);
    switch (type) {
      case 'response.content_part.added':
      case 'response.content_part.done': {
        const part = mapKeys(d.part, {
          text: (t) => this.#final(textKey(d), t, 'text', pathOf(SPECS[0]!, d)),
          refusal: (t) => this.#final(refusalKey(d), t, 'text', pathOf(SPECS[1]!, d)),
        });
        return [part === d.part ? ev : { ...ev, data: { ...d, part } }];
      }
      case 'response.output_item.added':
      case 'response.output_item.done': {
        const oi = num(d.output_index);
        const before = type.endsWith('.done') ? this.#flush((m) => m.ids.output_index === oi) : [];
        const item = this.#item(d.item, oi);
        return [...before, item === d.item ? ev : { ...ev, data: { ...d, item } }];
      }
      case 'response.created':
      case 'response.in_progress':
      case 'response.completed':
      case 'response.failed':
      case 'response.incomplete': {
        const before = type === 'response.created' || type === 'response.in_progress' ? [] : this.#flush(() => true);
        const response = mapKey(d.response, 'output', (items) => mapArray(items, (it, i) => this.#item(it, i)));
        return [...before, response === d.response ? ev : { ...ev, data: { ...d, response } }];
      }
      default:
        return [ev];
    }
  }

  #delta(ev: StreamEvent, d: Rec, spec: Spec): StreamEvent[] {
    if (typeof d.delta !== 'string') return [ev];
    const open = () => ({ meta: { delta: `${spec.prefix}.delta`, ids: idsOf(d, spec) }, path: pathOf(spec, d), kind: spec.kind });
    const out = this.#ch.push(keyOf(spec, d), d.delta, open);
    if (out === '') return [];
    return [{ ...ev, data: { ...d, delta: out, ...('logprobs' in d ? { logprobs: [] } : {}) } }];
  }

  #done(ev: StreamEvent, d: Rec, spec: Spec): StreamEvent[] {
    const key = keyOf(spec, d);
    const before = this.#flush((_m, k) => k === key);
    const full = this.#final(key, d[spec.doneField], spec.kind, pathOf(spec, d));
    const data = { ...d, [spec.doneField]: full, ...('logprobs' in d ? { logprobs: [] } : {}) };
    return [...before, { ...ev, data }];
  }

  /** An output item as the `.done`/completed events repeat it. */
  #item(item: unknown, oi: number | undefined): unknown {
    const r = rec(item);
    if (!r || oi === undefined) return item;
    const ids = { output_index: oi };
    switch (r.type) {
      case 'message':
        return mapKey(r, 'content', (parts) =>
          mapArray(parts, (p, ci) => {
            const at = { ...ids, content_index: ci };
            const after = mapKeys(p, {
              text: (t) => this.#final(textKey(at), t, 'text', pathOf(SPECS[0]!, at)),
              refusal: (t) => this.#final(refusalKey(at), t, 'text', pathOf(SPECS[1]!, at)),
            });
            return after !== p && Array.isArray(rec(p)?.logprobs) ? { ...rec(after), logprobs: [] } : after;
          }),
        );
      case 'function_call':
        return mapKey(r, 'arguments', (a) => this.#final(keyOf(SPECS[2]!, ids), a, 'json', pathOf(SPECS[2]!, ids)));
      case 'custom_tool_call':
        return mapKey(r, 'input', (a) => this.#final(keyOf(SPECS[3]!, ids), a, 'text', pathOf(SPECS[3]!, ids)));
      default:
        return item;
    }
  }

  #final(key: string, v: unknown, kind: TextKind, path: string): unknown {
    return typeof v === 'string' ? this.#ch.finalText(key, v, path, kind) : v;
  }

  /** Held text of matching channels as delta events of their own type. */
  #flush(filter: (m: Meta, key: string) => boolean): StreamEvent[] {
    const out: StreamEvent[] = [];
    for (const { key, meta } of this.#ch.openKeys()) {
      if (!filter(meta, key)) continue;
      const delta = this.#ch.end(key);
      if (delta === '') continue;
      const logprobs = meta.delta === 'response.output_text.delta' ? { logprobs: [] } : {};
      const data = { type: meta.delta, sequence_number: 0, ...meta.ids, delta, ...logprobs };
      out.push(this.#named ? { event: meta.delta, data } : { data });
    }
    return out;
  }

  #number(e: StreamEvent): StreamEvent {
    const d = rec(e.data);
    if (this.#next === undefined || !d || typeof d.sequence_number !== 'number') return e;
    return { ...e, data: { ...d, sequence_number: this.#next++ } };
  }
}

function idsOf(d: Rec, spec: Spec): Rec {
  const ids: Rec = { item_id: d.item_id, output_index: d.output_index };
  if (spec.withContent) ids.content_index = d.content_index;
  return ids;
}

function keyOf(spec: Spec, d: Rec): string {
  return `${spec.prefix}:${String(d.output_index)}${spec.withContent ? `:${String(d.content_index)}` : ''}`;
}

const textKey = (d: Rec): string => keyOf(SPECS[0]!, d);
const refusalKey = (d: Rec): string => keyOf(SPECS[1]!, d);

function pathOf(spec: Spec, d: Rec): string {
  const item = `output[${String(d.output_index)}]`;
  if (spec.withContent) return `${item}.content[${String(d.content_index)}].${spec.doneField}`;
  return `${item}.${spec.doneField}`;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
