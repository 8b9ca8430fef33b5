import { numberValue } from '../core/json-exact.ts';
import type { RequestFeatures } from '../policy/input.ts';

const IMAGE_PARTS = new Set(['image_url', 'input_image', 'image']);
const FILE_PARTS = new Set(['file', 'input_file', 'document']);
const MAX_PARTS = 10_000;

/**
 * What a request uses, read from its body in any supported shape: OpenAI chat (`messages[].content[]`), Responses
 * (`input[]` items and their `content[]`), Anthropic (`messages[].content[]`, `system`), legacy completions.
 * Bounded: at most MAX_PARTS parts are looked at; beyond that the request is treated as using images and files.
 */
export function requestFeatures(body: Readonly<Record<string, unknown>>, stream: boolean): Omit<RequestFeatures, 'template'> {
  const tools = nonEmpty(body.tools) || nonEmpty(body.functions);
  let images = false;
  let files = false;
  let seen = 0;
  const visit = (part: unknown): void => {
    if (++seen > MAX_PARTS) {
      images = files = true;
      return;
    }
    if (typeof part !== 'object' || part === null) return;
    const type = (part as { type?: unknown }).type;
    if (typeof type === 'string') {
      if (IMAGE_PARTS.has(type)) images = true;
      else if (FILE_PARTS.has(type)) files = true;
    }
    const content = (part as { content?: unknown }).content;
    if (Array.isArray(content)) for (const c of content) visit(c);
  };
  for (const key of ['messages', 'input', 'system'] as const) {
    const list = body[key];
    if (Array.isArray(list)) for (const item of list) visit(item);
  }
  // Keys in canonical order: the decision record (which holds these) is hashed into the audit trail.
  return {
    files,
    images,
    maxTokens: num(body.max_tokens) ?? num(body.max_completion_tokens) ?? num(body.max_output_tokens),
    stream,
    temperature: num(body.temperature),
    tools,
  };
}

function nonEmpty(v: unknown): boolean {
  return Array.isArray(v) && v.length > 0;
}

/**
 * A number as the policy sees it. Kept-exact numbers (src/core/json-exact.ts) count with their double value; one
 * beyond the double range (1e400) counts as the largest double, so a `max_tokens` bound still catches it — the
 * provider receives the client's text, not `null`.
 */
function num(v: unknown): number | null {
  const n = numberValue(v);
  if (n === undefined || Number.isNaN(n)) return null;
  return Number.isFinite(n) ? n : Math.sign(n) * Number.MAX_VALUE;
}
