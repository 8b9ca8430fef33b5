import type { ProviderConfig } from '../config/schema.ts';
import type { ExchangeContext } from './context.ts';
import { isJsonWs } from '../audit/body-split.ts';

/**
 * OpenAI chat/completions streams report token usage only when the client asks (`stream_options.include_usage`,
 * https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options). Budgets and records need
 * the usage of every exchange, so the gateway asks on the client's behalf and keeps the extra usage-only chunk from
 * a client that did not ask (it is still recorded). Only for providers known to accept the option.
 */
const ENDPOINTS = new Set(['openai.chat', 'openai.completions']);
const PROVIDERS = new Set<ProviderConfig['type']>(['openai', 'mock']);

export function needsUsageProbe(ctx: ExchangeContext, providerType: ProviderConfig['type'] | undefined): boolean {
  if (!ctx.stream || !ENDPOINTS.has(ctx.endpoint.id) || providerType === undefined || !PROVIDERS.has(providerType)) return false;
  const so = (ctx.upstreamBody ?? ctx.body).stream_options;
  return !(typeof so === 'object' && so !== null && (so as { include_usage?: unknown }).include_usage === true);
}

export function withUsageRequested(body: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const so = body.stream_options;
  return { ...body, stream_options: { ...(typeof so === 'object' && so !== null ? so : {}), include_usage: true } };
}

/**
 * The client's bytes with `"stream_options":{"include_usage":true}` appended as the last member — the document
 * withUsageRequested gives, without serializing the body again (an agent's body is its whole conversation, and a
 * string over 128 KiB costs V8 a large-object allocation, src/proxy/json-pieces.ts). Only for a body without
 * `stream_options` (otherwise undefined: merged by withUsageRequested). `raw` is the body `body` was parsed from.
 */
export function withUsageRequestedBytes(raw: Buffer, body: Readonly<Record<string, unknown>>): Buffer | undefined {
  if (Object.hasOwn(body, 'stream_options')) return undefined;
  let end = raw.length - 1;
  while (end > 0 && isJsonWs(raw[end]!)) end--;
  let before = end - 1;
  while (before > 0 && isJsonWs(raw[before]!)) before--;
  if (raw[end] !== 0x7d) return undefined;
  const member = `${raw[before] === 0x7b ? '' : ','}"stream_options":{"include_usage":true}`;
  return Buffer.concat([raw.subarray(0, end), Buffer.from(member), raw.subarray(end)]);
}

/** The chunk that only carries usage: `choices: []` and a `usage` object. */
export function isUsageOnlyChunk(parsed: unknown): boolean {
  if (typeof parsed !== 'object' || parsed === null) return false;
  const p = parsed as { choices?: unknown; usage?: unknown };
  return Array.isArray(p.choices) && p.choices.length === 0 && typeof p.usage === 'object' && p.usage !== null;
}
