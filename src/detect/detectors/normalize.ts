/**
 * Evasion-resistant view of a text: Unicode NFKC per code point (full-width digits and letters, ligatures,
 * non-breaking spaces), Unicode dashes to `-`, and format characters removed (zero-width, bidi controls, soft
 * hyphen, variation selectors, tags: UAX #9 / Unicode Cf). Detectors run on the view; offsets map back to the
 * original text. Pure ASCII (the common case) is returned as is, with no map.
 */

export interface NormalizedText {
  readonly text: string;
  /** Original UTF-16 start of the code point that produced normalized unit i; undefined = identity. */
  readonly starts?: Int32Array;
  /** Original UTF-16 end of that code point. */
  readonly ends?: Int32Array;
}

const NON_ASCII = /[^\x00-\x7f]/;
const IGNORABLE = /^[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\u{e0000}-\u{e0fff}]$/u;
const DASHES = /^[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]$/;
const cache = new Map<string, string>();

export function normalize(text: string): NormalizedText {
  if (!NON_ASCII.test(text)) return { text };
  const starts: number[] = [];
  const ends: number[] = [];
  let out = '';
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    const w = cp > 0xffff ? 2 : 1;
    let mapped: string;
    if (cp < 0x80) mapped = text[i]!;
    else mapped = mapChar(text.slice(i, i + w));
    for (let k = 0; k < mapped.length; k++) {
      starts.push(i);
      ends.push(i + w);
    }
    out += mapped;
    i += w;
  }
  return { text: out, starts: Int32Array.from(starts), ends: Int32Array.from(ends) };
}

function mapChar(ch: string): string {
  let m = cache.get(ch);
  if (m !== undefined) return m;
  if (IGNORABLE.test(ch)) m = '';
  else if (DASHES.test(ch)) m = '-';
  else m = ch.normalize('NFKC');
  if (cache.size < 4096) cache.set(ch, m);
  return m;
}

/** Map a [start, end) span of the normalized text back to the original. */
export function toOriginal(n: NormalizedText, start: number, end: number): [number, number] {
  if (!n.starts || !n.ends) return [start, end];
  const s = n.starts[start] ?? n.ends[n.ends.length - 1] ?? 0;
  const e = end > 0 ? (n.ends[end - 1] ?? s) : s;
  return [s, Math.max(s, e)];
}
