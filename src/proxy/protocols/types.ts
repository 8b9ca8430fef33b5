import type { GatewayError } from '../../core/errors.ts';
import type { ExchangeUsage } from '../../store/ports.ts';
import type { EndpointId } from '../endpoints.ts';

/** One SSE event as the gateway handles it: parsed JSON `data` kept next to the raw text. */
export interface SseEvent {
  event: string | undefined;
  id: string | undefined;
  /** Raw `data` text exactly as received (joined lines). */
  data: string;
}

/** What a provider family must provide so the shared pipeline can speak its protocol. */
export interface Protocol {
  /** The HTTP status this family's clients must see for `err` (policy refusals differ per family). */
  statusOf(err: GatewayError): number;
  /** Error response body in the family's native shape. */
  errorBody(err: GatewayError): unknown;
  /** The SSE events that report an error after a stream has started (protocol-correct end of stream). */
  streamErrorEvents(endpoint: EndpointId, err: GatewayError): SseEvent[];
  /** Usage from a non-streamed JSON response. */
  usageFromJson(endpoint: EndpointId, body: unknown): ExchangeUsage;
  /** Folds one streamed event's usage into `acc` (providers spread usage across events). */
  foldStreamUsage(endpoint: EndpointId, parsed: unknown, acc: ExchangeUsage): void;
  /** Whether this event ends the stream (nothing after it is expected). */
  isTerminal(endpoint: EndpointId, ev: SseEvent): boolean;
}

export function emptyUsage(): ExchangeUsage {
  return { inputTokens: null, outputTokens: null, totalTokens: null };
}

export function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
