/**
 * User-defined detectors: regular expressions run by re2js (RE2 semantics: guaranteed linear time, no
 * backreferences or lookaround, so a hostile pattern cannot stall the gateway), dictionaries matched with
 * Aho–Corasick, optional validators by name, context words and a score.
 */
import { RE2JS } from 're2js';
import { AhoCorasick } from './aho-corasick.ts';
import { base58check, bech32, ibanMod97, iso7064Mod11_10, luhn, nhsMod11, verhoeff } from './checksums.ts';
import type { ContextRule, Detector } from './types.ts';

/** Validators a custom detector may name; each gets the match with separators (space, dash, dot) removed. */
export const VALIDATORS: Readonly<Record<string, (v: string) => boolean>> = {
  luhn,
  iban: ibanMod97,
  mod97: ibanMod97,
  verhoeff,
  iso7064_mod11_10: iso7064Mod11_10,
  nhs: nhsMod11,
  base58check,
  bech32,
};

export interface CustomRegexSpec {
  readonly kind: 'regex';
  readonly id: string;
  readonly type: string;
  readonly pattern: string;
  readonly caseInsensitive?: boolean;
  readonly score?: number;
  /** Longest value the pattern can match (sets the streaming hold-back). Default 128. */
  readonly maxLength?: number;
  readonly validator?: string;
  /** Report only this capture group (number or name). */
  readonly group?: number | string;
  readonly context?: readonly ContextRule[];
}

export interface CustomDictionarySpec {
  readonly kind: 'dictionary';
  readonly id: string;
  readonly type: string;
  readonly words: readonly string[];
  readonly caseSensitive?: boolean;
  /** Only whole words (default true): `ann` does not match inside `annual`. */
  readonly wholeWords?: boolean;
  readonly score?: number;
  readonly context?: readonly ContextRule[];
}

export type CustomDetectorSpec = CustomRegexSpec | CustomDictionarySpec;

const DEFAULT_MAX = 128;

/** Compile one custom detector. Throws TypeError with a readable message for a bad pattern or validator. */
export function customDetector(spec: CustomDetectorSpec): Detector {
  return spec.kind === 'regex' ? regexDetector(spec) : dictionaryDetector(spec);
}

function regexDetector(spec: CustomRegexSpec): Detector {
  let re: RE2JS;
  try {
    re = RE2JS.compile(spec.pattern, spec.caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (err) {
    throw new TypeError(`custom detector ${spec.id}: invalid pattern (${err instanceof Error ? err.message : 'syntax error'})`);
  }
  let validate: ((v: string) => boolean) | undefined;
  if (spec.validator !== undefined) {
    validate = VALIDATORS[spec.validator];
    if (!validate) throw new TypeError(`custom detector ${spec.id}: unknown validator ${spec.validator} (known: ${Object.keys(VALIDATORS).join(', ')})`);
  }
  const id = `custom.${spec.id}`;
  const score = spec.score ?? 0.8;
  return {
    id,
    types: [spec.type],
    maxLength: spec.maxLength ?? DEFAULT_MAX,
    priority: 4,
    ...(spec.context ? { context: spec.context } : {}),
    find(text, out) {
      const m = re.matcher(text);
      let from = 0;
      while (from <= text.length && m.find(from)) {
        const s0 = m.start();
        const e0 = m.end();
        from = e0 > s0 ? e0 : e0 + 1;
        let start = s0;
        let end = e0;
        if (spec.group !== undefined) {
          const g = m.group(spec.group);
          if (g === null || g.length === 0) continue;
          start = m.start(spec.group);
          end = m.end(spec.group);
        }
        if (end <= start) continue;
        if (validate && !validate(text.slice(start, end).replace(/[\s.-]/g, ''))) continue;
        out.push({ type: spec.type, start, end, score, detector: id });
      }
    },
  };
}

function dictionaryDetector(spec: CustomDictionarySpec): Detector {
  const words = spec.words.filter((w) => w.length > 0);
  if (words.length === 0) throw new TypeError(`custom detector ${spec.id}: the dictionary is empty`);
  const fold = spec.caseSensitive !== true;
  const ac = new AhoCorasick(fold ? words.map((w) => w.toLowerCase()) : words);
  const whole = spec.wholeWords !== false;
  const id = `custom.${spec.id}`;
  const score = spec.score ?? 0.8;
  return {
    id,
    types: [spec.type],
    maxLength: Math.max(...words.map((w) => w.length)),
    priority: 4,
    ...(spec.context ? { context: spec.context } : {}),
    find(text, out) {
      const hay = fold ? asciiLower(text) : text;
      ac.search(hay, (m) => {
        if (whole && (isWordChar(hay.charCodeAt(m.start - 1)) || isWordChar(hay.charCodeAt(m.end)))) return;
        out.push({ type: spec.type, start: m.start, end: m.end, score, detector: id });
      });
    },
  };
}

/** Lower-case without changing length (String#toLowerCase may, e.g. for U+0130). */
export function asciiLower(s: string): string {
  const l = s.toLowerCase();
  return l.length === s.length ? l : s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127;
}
