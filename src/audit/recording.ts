import type { Keyring } from '../crypto/keyring.ts';
import type { ExchangeRepo } from '../store/ports.ts';
import { assembleBody } from './dedup.ts';

/**
 * Recorded body format. Bodies are sealed with the `exchange-bodies` key; the AAD binds each ciphertext to its
 * exchange and part so rows cannot be swapped. A stream is recorded as ordered segments, each a JSON array of
 * events `[tMs, event, data]` where `tMs` is milliseconds since the exchange started (replay reproduces pacing),
 * `event` the SSE event name or null, `data` the SSE data exactly as sent to the client, and — only when the
 * gateway rewrote it (masking, token restore) — `upstreamData`, what the provider actually sent.
 */
export type BodyPart = 'client_request' | 'upstream_request' | 'response';
export type RecordedEvent = [tMs: number, event: string | null, data: string, upstreamData?: string];

export function bodyAad(exchangeId: string, part: BodyPart): string {
  return `${exchangeId}/${part}`;
}

export function segmentAad(exchangeId: string, seq: number): string {
  return `${exchangeId}/segment/${seq}`;
}

export function sealBody(keyring: Keyring, exchangeId: string, part: BodyPart, body: Uint8Array): Buffer {
  return keyring.seal('exchange-bodies', body, bodyAad(exchangeId, part));
}

export function openBody(keyring: Keyring, exchangeId: string, part: BodyPart, sealed: Uint8Array): Buffer {
  return keyring.open('exchange-bodies', sealed, bodyAad(exchangeId, part));
}

/**
 * A recorded request body's exact bytes: opened, and — when it was stored as a skeleton of deduplicated messages
 * (src/audit/dedup.ts) — with its messages read from the store and spliced back in.
 */
export async function openRecordedBody(keyring: Keyring, exchanges: Pick<ExchangeRepo, 'messages'>, exchangeId: string, part: BodyPart, sealed: Uint8Array): Promise<Buffer> {
  return assembleBody(keyring, openBody(keyring, exchangeId, part, sealed), (scope, refs) => exchanges.messages(scope, refs));
}

export function sealSegment(keyring: Keyring, exchangeId: string, seq: number, events: RecordedEvent[]): Buffer {
  return keyring.seal('exchange-bodies', Buffer.from(JSON.stringify(events)), segmentAad(exchangeId, seq));
}

export function openSegments(keyring: Keyring, exchangeId: string, segments: { seq: number; sealed: Uint8Array }[]): RecordedEvent[] {
  const out: RecordedEvent[] = [];
  for (const s of segments) {
    const events = JSON.parse(keyring.open('exchange-bodies', s.sealed, segmentAad(exchangeId, s.seq)).toString('utf8')) as RecordedEvent[];
    for (const e of events) out.push(e);
  }
  return out;
}
