import { createHmac, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.ts';

/**
 * The tool calls in a model's answer, as the agent received them (docs/mcp.md#correlation): OpenAI chat
 * `tool_calls`, Responses `function_call` items, Anthropic `tool_use` blocks — whole JSON answers and streams. A
 * stream is read event by event; only events that can carry a tool call are parsed (a substring test first), so a
 * text answer costs one `includes` per event.
 */
export interface ModelToolCall {
  /** The id the model gave the call (`call_…`, `toolu_…`). */
  id: string;
  /** The name as the agent offered it to the model, with a Responses namespace joined by `__` (`mcp__dev__get_weather`). */
  name: string;
  /** The arguments as JSON text (parsed for the digest; a call whose arguments do not parse is not noted). */
  argumentsText: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Endpoints whose answers can hold tool calls. */
export const TOOL_CALL_ENDPOINTS: ReadonlySet<string> = new Set(['openai.chat', 'openai.responses', 'anthropic.messages']);

/** The calls in a whole (non-streamed) answer of `endpoint`. */
export function toolCallsInJson(endpoint: string, body: unknown): ModelToolCall[] {
  if (!isObj(body)) return [];
  const out: ModelToolCall[] = [];
  if (endpoint === 'openai.chat' && Array.isArray(body.choices)) {
    for (const c of body.choices) {
      const calls = isObj(c) && isObj(c.message) && Array.isArray(c.message.tool_calls) ? c.message.tool_calls : [];
      for (const t of calls) pushCall(out, isObj(t) ? str(t.id) : undefined, isObj(t) && isObj(t.function) ? t.function : undefined);
    }
  } else if (endpoint === 'openai.responses' && Array.isArray(body.output)) {
    for (const item of body.output) if (isObj(item)) pushResponsesItem(out, item);
  } else if (endpoint === 'anthropic.messages' && Array.isArray(body.content)) {
    for (const b of body.content) {
      if (isObj(b) && b.type === 'tool_use' && typeof b.id === 'string' && typeof b.name === 'string') out.push({ id: b.id, name: b.name, argumentsText: JSON.stringify(b.input ?? {}) });
    }
  }
  return out;
}

function pushCall(out: ModelToolCall[], id: string | undefined, fn: Obj | undefined): void {
  const name = str(fn?.name);
  const args = str(fn?.arguments);
  if (id && name && args !== undefined) out.push({ id, name, argumentsText: args });
}

/** A Responses `function_call` item; Codex CLI's MCP tools come with `namespace: "mcp__<server>"`. */
function pushResponsesItem(out: ModelToolCall[], item: Obj): void {
  if (item.type !== 'function_call') return;
  const ns = str(item.namespace);
  const name = str(item.name);
  pushCall(out, str(item.call_id), name === undefined ? undefined : { name: ns ? `${ns}__${name}` : name, arguments: item.arguments });
}

/** Chat stream pieces of one call, by (choice, tool call index). */
interface Partial {
  id?: string;
  name?: string;
  args: string;
}

/**
 * Reads a stream's events in order and hands each completed call to `onCall` as soon as its last event passes —
 * before the agent has it — so the index holds it by the time the agent makes the MCP call.
 */
export class StreamToolCalls {
  readonly #endpoint: string;
  readonly #onCall: (c: ModelToolCall) => void;
  readonly #open = new Map<string, Partial>();

  constructor(endpoint: string, onCall: (c: ModelToolCall) => void) {
    this.#endpoint = endpoint;
    this.#onCall = onCall;
  }

  event(data: string): void {
    if (this.#endpoint === 'openai.responses') {
      if (data.includes('"function_call"') && data.includes('response.output_item.done')) this.#responses(data);
    } else if (this.#endpoint === 'openai.chat') {
      if (data.includes('"tool_calls"') || (this.#open.size > 0 && data.includes('"finish_reason"'))) this.#chat(data);
    } else if (this.#endpoint === 'anthropic.messages') {
      if (data.includes('"tool_use"') || (this.#open.size > 0 && (data.includes('input_json_delta') || data.includes('content_block_stop')))) this.#anthropic(data);
    }
  }

  /** The stream ended: calls still open (a chat stream without a finish reason) are handed over as they are. */
  end(): void {
    for (const p of this.#open.values()) this.#complete(p);
    this.#open.clear();
  }

  #responses(data: string): void {
    const e = parse(data);
    if (e?.type !== 'response.output_item.done' || !isObj(e.item)) return;
    const out: ModelToolCall[] = [];
    pushResponsesItem(out, e.item);
    for (const c of out) this.#onCall(c);
  }

  #chat(data: string): void {
    const e = parse(data);
    if (!e || !Array.isArray(e.choices)) return;
    for (const c of e.choices) {
      if (!isObj(c)) continue;
      const calls = isObj(c.delta) && Array.isArray(c.delta.tool_calls) ? c.delta.tool_calls : [];
      for (const t of calls) {
        if (!isObj(t)) continue;
        const key = `${String(c.index)}:${String(t.index)}`;
        const p = this.#open.get(key) ?? { args: '' };
        const fn = isObj(t.function) ? t.function : {};
        p.id ??= str(t.id);
        p.name ??= str(fn.name);
        p.args += str(fn.arguments) ?? '';
        this.#open.set(key, p);
      }
      if (c.finish_reason !== null && c.finish_reason !== undefined) this.#closeChoice(String(c.index));
    }
  }

  #closeChoice(choice: string): void {
    for (const [key, p] of this.#open) {
      if (!key.startsWith(`${choice}:`)) continue;
      this.#complete(p);
      this.#open.delete(key);
    }
  }

  #anthropic(data: string): void {
    const e = parse(data);
    if (!e) return;
    const key = String(e.index);
    if (e.type === 'content_block_start' && isObj(e.content_block) && e.content_block.type === 'tool_use') {
      const b = e.content_block;
      // The start carries `input: {}`; the input arrives as `input_json_delta` pieces (an empty input sends none).
      this.#open.set(key, { id: str(b.id), name: str(b.name), args: '' });
    } else if (e.type === 'content_block_delta' && isObj(e.delta) && e.delta.type === 'input_json_delta') {
      const p = this.#open.get(key);
      if (p) p.args += str(e.delta.partial_json) ?? '';
    } else if (e.type === 'content_block_stop') {
      const p = this.#open.get(key);
      if (!p) return;
      this.#open.delete(key);
      this.#complete({ ...p, args: p.args === '' ? '{}' : p.args });
    }
  }

  #complete(p: Partial): void {
    if (p.id && p.name) this.#onCall({ id: p.id, name: p.name, argumentsText: p.args });
  }
}

function parse(data: string): Obj | undefined {
  try {
    const v: unknown = JSON.parse(data);
    return isObj(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The keyed digest of a call's arguments: HMAC-SHA256 of their RFC 8785 canonical JSON (key order and spacing do
 * not count). Keyed, because the index stores it in clear: a plain hash of `{"city":"Paris"}` could be reversed
 * by guessing. Undefined when the arguments are not a JSON object (nothing to compare).
 */
export function argumentsDigest(key: KeyObject, args: unknown): string | undefined {
  if (!isObj(args)) return undefined;
  // Domain-separated: the key may serve other MACs of the same module (the MCP session binding).
  return createHmac('sha256', key).update('portcullis/tool-arguments/v1\n').update(canonicalJson(args)).digest('base64url');
}

/** The digest of arguments given as JSON text (a model's `arguments`). */
export function argumentsTextDigest(key: KeyObject, text: string): string | undefined {
  try {
    return argumentsDigest(key, JSON.parse(text));
  } catch {
    return undefined;
  }
}

/**
 * Whether the name a model called is the MCP tool `tool` of `server`: the bare name (an agent that offers MCP tools
 * under their own names), or a name ending in `__<server>__<tool>` or equal to `<server>__<tool>` — Claude Code's
 * `mcp__<server>__<tool>`, Codex CLI's namespace `mcp__<server>` + `<tool>`, the aggregated endpoint's
 * `<server>__<tool>` (also behind an agent's own prefix, `mcp__<aggregate>__<server>__<tool>`).
 */
export function namesTool(modelName: string, server: string, tool: string): boolean {
  if (modelName === tool) return true;
  const qualified = `${server}__${tool}`;
  return modelName === qualified || modelName.endsWith(`__${qualified}`);
}
