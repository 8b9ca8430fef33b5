/**
 * Secrets hidden in base64 or hex blobs: a blob that decodes to mostly printable text is scanned with the
 * given secret detectors; a secret inside makes the whole blob a finding of that secret's type. Blobs are
 * bounded (344 base64 / 344 hex characters per match), so this stays a bounded pattern for streaming.
 */
import { eachMatchAt, runsOfLength } from './starts.ts';
import type { Candidate, Detector } from './types.ts';

// Tried only at the start of a long enough run of the blob alphabet (the lookbehind makes a match begin one).
const B64_RE = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,344}={0,2}/y;
const B64_STARTS = runsOfLength('b64', 24);
const HEX_RE = /(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){16,172}(?![0-9A-Fa-f])/y;
const HEX_STARTS = runsOfLength('hex', 32);
const MIN_INNER_SCORE = 0.75;

export function encodedSecrets(inner: readonly Detector[]): Detector {
  const types = [...new Set(inner.flatMap((d) => d.types))];
  const look = (decoded: Buffer, start: number, end: number, kind: string, out: Candidate[]) => {
    const s = decoded.toString('utf8');
    if (!mostlyPrintable(s)) return;
    const found: Candidate[] = [];
    for (const d of inner) d.find(s, found);
    let best: Candidate | undefined;
    for (const c of found) if (c.score >= MIN_INNER_SCORE && (!best || c.score > best.score)) best = c;
    if (best) out.push({ type: best.type, start, end, score: best.score * 0.95, detector: `encoded.${kind}:${best.detector}` });
  };
  return {
    id: 'encoded',
    types,
    maxLength: 346,
    priority: 4,
    find(text, out) {
      eachMatchAt(B64_RE, B64_STARTS, text, (m) => {
        // A token of letters only is a word, not a blob.
        if (!/[0-9+/_-]/.test(m[0]) || !/[A-Z]/.test(m[0])) return;
        look(Buffer.from(m[0], 'base64'), m.index, m.index + m[0].length, 'base64', out);
      });
      eachMatchAt(HEX_RE, HEX_STARTS, text, (m) => look(Buffer.from(m[0], 'hex'), m.index, m.index + m[0].length, 'hex', out));
    },
  };
}

function mostlyPrintable(s: string): boolean {
  if (s.length < 12) return false;
  let ok = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 0x20 && c < 0x7f) || c === 9 || c === 10 || c === 13) ok++;
  }
  return ok / s.length >= 0.95;
}
