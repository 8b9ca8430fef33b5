/**
 * Test support only: a small stand-in Scanner (the real one is src/detect/scanner) with a few bounded patterns
 * and one unbounded one (PEM private keys), and an action resolver. Used by the unit and property tests of
 * actions, streaming, tokenization and the protocol walkers.
 */
import type { Direction, Finding } from '../../core/findings.ts';
import type { ActionDecision, MaskStyle } from '../actions.ts';
import type { Action, Scanner } from '../types.ts';

const BOUNDED: readonly { type: string; re: RegExp }[] = [
  { type: 'EMAIL_ADDRESS', re: /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,3}\.[A-Za-z]{2,24}/g },
  { type: 'CREDIT_CARD', re: /(?<![0-9])[0-9]{4}(?:[ -]?[0-9]{4}){3}(?![0-9])/g },
  { type: 'SECRET_OPENAI_KEY', re: /sk-[A-Za-z0-9_-]{20,160}/g },
];
const PEM = /-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----[\s\S]*?-----END [A-Z ]{0,20}PRIVATE KEY-----/g;

export interface StandInOptions {
  /** Throw from scan() once this many calls have been made (fail-closed tests). */
  readonly throwAfter?: number;
  readonly pemCap?: number;
}

export function standInScanner(opts: StandInOptions = {}): Scanner & { calls: number; scanned: number } {
  const s = {
    calls: 0,
    scanned: 0,
    // 64 + 1 + 4 × 64 + 25: the longest email; cards and keys are shorter.
    maxBoundedMatchLength: 346,
    unbounded: [{ detector: 'SECRET_PRIVATE_KEY', startMarker: /-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----/, cap: opts.pemCap ?? 8192 }],
    scan(text: string): Finding[] {
      s.calls++;
      s.scanned += text.length;
      if (opts.throwAfter !== undefined && s.calls > opts.throwAfter) throw new Error('detector crashed');
      const all: Finding[] = [];
      for (const { type, re } of BOUNDED) collect(text, re, type, all);
      collect(text, PEM, 'SECRET_PRIVATE_KEY', all);
      all.sort((a, b) => a.start - b.start || b.end - a.end);
      const out: Finding[] = [];
      for (const f of all) if (!out.some((o) => f.start < o.end && o.start < f.end)) out.push(f);
      return out.sort((a, b) => a.start - b.start);
    },
  };
  return s;
}

function collect(text: string, re: RegExp, type: string, out: Finding[]): void {
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push({ type, start: m.index, end: m.index + m[0].length, score: 1, detector: type.toLowerCase() });
  }
}

/** Every type gets `action` (rule `r-<type>`), optionally per type overrides. */
export function resolver(
  action: Action,
  overrides: Record<string, Action> = {},
  maskStyle?: MaskStyle,
): (f: Finding, d: Direction) => ActionDecision {
  return (f) => ({ action: overrides[f.type] ?? action, rule: `r-${f.type.toLowerCase()}`, ...(maskStyle ? { maskStyle } : {}) });
}

export const ENTITIES: readonly { type: string; value: string }[] = [
  { type: 'EMAIL_ADDRESS', value: 'jane.doe+test@mail.example.co.uk' },
  { type: 'CREDIT_CARD', value: '4242424242424242' },
  { type: 'CREDIT_CARD', value: '4111 1111 1111 1111' },
  { type: 'SECRET_OPENAI_KEY', value: 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789' },
  {
    type: 'SECRET_PRIVATE_KEY',
    value:
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgwMbRvI0MBZhpF\n' +
      'QsXKpWuTBbKt6LhN2ZQH1oLyc4Vm3c4ozOhQbUa7Wzm1N7y1k6Zp0S5fJm2O9TUe\n-----END RSA PRIVATE KEY-----',
  },
];
