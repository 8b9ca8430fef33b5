/**
 * Incremental detection + actions for ONE text channel of a streamed answer (one choice's content, one tool
 * call's arguments, ...). `push(chunk)` returns the text that may be released now; `end()` flushes the rest.
 *
 * Release rule. With L = scanner.maxBoundedMatchLength, a bounded match that is not yet complete must contain
 * at least one future character and is at most L long, so it starts at or after n - L + 1 (n = held length).
 * Everything before that boundary can no longer START a match: it is released, and a complete finding that
 * starts before it is acted on and released whole. A finding that touches the end of the held text and is at
 * least L long (an unbounded pattern) is not final yet and holds text from its start. Unbounded patterns are
 * also held from their start marker (scanner.unbounded) until the scanner reports the whole match, up to the
 * marker's cap; past the cap, or at the end of the channel, an unterminated match is handled per policy: block,
 * flag (release), or anything else masks the rest of the channel.
 *
 * Only the held window (plus a short left context of released text) is scanned, never the whole answer.
 * Fail closed: a scanner error or a `block` ends the channel with a GatewayError; nothing unchecked is released.
 */
import type { GatewayError } from '../../core/errors.ts';
import type { Direction, Finding } from '../../core/findings.ts';
import {
  applyActions,
  contentBlockedError,
  evaluationError,
  label,
  plan,
  type ActionResolver,
  type AppliedFinding,
  type PlannedFinding,
  type Tokenizing,
} from '../actions.ts';
import type { Scanner } from '../types.ts';

export interface StreamTransformerOptions {
  readonly scanner: Scanner;
  readonly direction: Direction;
  readonly resolve: ActionResolver;
  /** For `tokenize` on the request side (response-side tokenize masks, see actions.ts). */
  readonly tokenizer?: Tokenizing | undefined;
  /** The channel carries raw JSON text (tool-call arguments). */
  readonly json?: boolean | undefined;
  /** Released characters handed to the scanner as left context (word boundaries, context words). Default 32. */
  readonly contextChars?: number | undefined;
  /**
   * Scan only once at least this many characters became releasable (batches tiny deltas: fewer window scans
   * for a little more hold-back). Default: what the 512-character hold-back target leaves, between 1 and 64.
   */
  readonly minRelease?: number | undefined;
  /** Unterminated unbounded match and the resolver has no rule for it. Default 'mask'. */
  readonly unterminated?: 'block' | 'mask' | undefined;
}

interface Marker {
  readonly detector: string;
  readonly re: RegExp;
  readonly cap: number;
}

interface OpenMarker {
  readonly at: number;
  readonly marker: Marker;
}

export class StreamTransformer {
  /** Everything acted on so far, offsets in this channel's original text (start/end) and output (outStart/outEnd). */
  readonly findings: AppliedFinding[] = [];
  readonly #o: StreamTransformerOptions;
  readonly #window: number;
  readonly #contextChars: number;
  readonly #minRelease: number;
  readonly #markers: readonly Marker[];
  #buf = '';
  #base = 0;
  #outBase = 0;
  #context = '';
  #rescanAt: number;
  #ignoreBefore = 0;
  #swallow = false;
  #failed: GatewayError | undefined;
  #maxHeld = 0;

  constructor(opts: StreamTransformerOptions) {
    this.#o = opts;
    this.#window = Math.max(1, Math.ceil(opts.scanner.maxBoundedMatchLength));
    this.#contextChars = Math.max(0, opts.contextChars ?? 32);
    this.#markers = opts.scanner.unbounded.map((u) => ({
      detector: u.detector,
      cap: u.cap,
      re: new RegExp(u.startMarker.source, u.startMarker.flags.replace(/[gy]/g, '') + 'g'),
    }));
    this.#minRelease = Math.max(1, Math.floor(opts.minRelease ?? Math.min(64, 512 - this.#window)));
    this.#rescanAt = this.#window - 1 + this.#minRelease;
  }

  /** Text that may be released after this chunk (possibly ''). Throws GatewayError on block or scanner failure. */
  push(chunk: string): string {
    if (this.#failed) throw this.#failed;
    if (this.#swallow) return '';
    this.#buf += chunk;
    const out = this.#buf.length >= this.#rescanAt ? this.#process(false) : '';
    this.#maxHeld = Math.max(this.#maxHeld, this.#buf.length);
    return out;
  }

  /** The rest of the channel, acted on. */
  end(): string {
    if (this.#failed) throw this.#failed;
    if (this.#swallow) return '';
    const out = this.#buf.length > 0 ? this.#process(true) : '';
    this.#swallow = true;
    return out;
  }

  /** Characters currently held back. */
  get held(): number {
    return this.#buf.length;
  }

  /** Largest hold-back seen after any push. */
  get maxHeld(): number {
    return this.#maxHeld;
  }

  #process(final: boolean): string {
    for (;;) {
      const n = this.#buf.length;
      const found = this.#scan();
      const b = final ? n : Math.max(0, n - this.#window + 1);
      const settled = (f: Finding): boolean =>
        final || (f.start < b && (f.end < n || f.end - f.start < this.#window));
      const open = this.#openMarker(found, settled);
      if (open && (final || n - open.at > open.marker.cap)) {
        const r = this.#unterminated(found, open);
        if (r !== undefined) return r;
        continue; // flagged: the marker is ignored from now on, look again
      }
      let limit = open ? Math.min(b, open.at) : b;
      const take: PlannedFinding[] = [];
      let unsettled = false;
      for (const f of found) {
        if (f.start >= limit) break;
        if (!settled(f)) {
          limit = f.start;
          unsettled = true;
          break;
        }
        take.push(f);
      }
      let end = Math.max(limit, take.at(-1)?.end ?? 0);
      // Never split a surrogate pair between two releases: each delta must be valid UTF-16 on its own.
      if (end < n && end > (take.at(-1)?.end ?? 0) && isHighSurrogate(this.#buf.charCodeAt(end - 1))) end--;
      const out = this.#release(end, take);
      const rest = this.#buf.length;
      if (open) {
        const at = open.at - end;
        this.#rescanAt = Math.min(at + open.marker.cap + 1, rest + Math.max(64, (rest - at) >> 2));
      } else {
        const next = rest + this.#minRelease;
        this.#rescanAt = unsettled ? next : Math.max(this.#window - 1 + this.#minRelease, next);
      }
      return out;
    }
  }

  /** Findings in the held text (buffer coordinates), planned; scanner errors fail the channel. */
  #scan(): PlannedFinding[] {
    const off = this.#context.length;
    let raw: Finding[];
    try {
      raw = this.#o.scanner.scan(this.#context + this.#buf);
    } catch (err) {
      throw this.#fail(evaluationError(err));
    }
    const local: Finding[] = [];
    for (const f of raw) {
      if (f.end <= off) continue;
      // A match reaching back into released text is acted on for its held part (defensive: cannot happen when
      // maxBoundedMatchLength is honest).
      local.push({ ...f, start: Math.max(0, f.start - off), end: f.end - off });
    }
    try {
      return plan(local, this.#o.direction, this.#o.resolve).sort((a, b) => a.start - b.start);
    } catch (err) {
      throw this.#fail(evaluationError(err));
    }
  }

  /** Earliest unbounded start marker not inside a settled finding. */
  #openMarker(found: readonly Finding[], settled: (f: Finding) => boolean): OpenMarker | undefined {
    let best: OpenMarker | undefined;
    const from = Math.max(0, this.#ignoreBefore - this.#base);
    for (const marker of this.#markers) {
      marker.re.lastIndex = from;
      for (let m = marker.re.exec(this.#buf); m; m = marker.re.exec(this.#buf)) {
        if (m[0].length === 0) marker.re.lastIndex++;
        if (best && m.index >= best.at) break;
        const at = m.index;
        if (!found.some((f) => f.start <= at && at < f.end && settled(f))) {
          best = { at, marker };
          break;
        }
      }
    }
    return best;
  }

  /**
   * An unbounded match that did not end within its cap (or before the channel ended). Returns the text to
   * release, or undefined when the policy only flags it (the caller then looks again, ignoring this marker).
   */
  #unterminated(found: readonly PlannedFinding[], open: OpenMarker): string | undefined {
    const { marker } = open;
    // A finding that starts before the marker and runs into it is masked with the rest.
    const at = Math.min(open.at, ...found.filter((f) => f.start < open.at && f.end > open.at).map((f) => f.start));
    const synthetic: Finding = { type: marker.detector, detector: marker.detector, start: at, end: this.#buf.length, score: 1 };
    let decision;
    try {
      decision = this.#o.resolve(synthetic, this.#o.direction);
    } catch (err) {
      throw this.#fail(evaluationError(err));
    }
    const action = decision?.action ?? this.#o.unterminated ?? 'mask';
    const rule = decision?.rule ?? 'unterminated';
    const start = this.#base + at;
    const end = this.#base + this.#buf.length;
    if (action === 'flag') {
      this.#record([{ ...synthetic, start, end, action, rule, outStart: -1, outEnd: -1 }], 0, 0);
      this.#ignoreBefore = this.#base + open.at + 1;
      return undefined;
    }
    const head = this.#release(at, found.filter((f) => f.end <= at));
    const replacement = action === 'redact' ? '' : label(synthetic.type);
    const outStart = this.#outBase;
    const applied: AppliedFinding = { ...synthetic, start, end, action, rule, outStart, outEnd: outStart + replacement.length };
    this.#record([applied], 0, 0);
    if (action === 'block') throw this.#fail(contentBlockedError([applied], this.#o.direction));
    // The rest of the channel is masked: nothing after the marker will be released.
    this.#buf = '';
    this.#swallow = true;
    this.#outBase += replacement.length;
    return head + replacement;
  }

  /** Release buf[0, end) with `take` applied; throws when one of them blocks. */
  #release(end: number, take: readonly PlannedFinding[]): string {
    const seg = this.#buf.slice(0, end);
    const res = applyActions(seg, take, {
      direction: this.#o.direction,
      tokenizer: this.#o.tokenizer,
      json: this.#o.json === true,
    });
    this.#record(res.applied, this.#base, this.#outBase);
    if (res.blocked.length > 0) throw this.#fail(contentBlockedError(res.blocked, this.#o.direction));
    this.#context = this.#contextChars === 0 ? '' : (this.#context + seg).slice(-this.#contextChars);
    this.#buf = this.#buf.slice(end);
    this.#base += end;
    this.#outBase += res.text.length;
    return res.text;
  }

  #record(applied: readonly AppliedFinding[], base: number, outBase: number): void {
    for (const a of applied) {
      this.findings.push({ ...a, start: a.start + base, end: a.end + base, outStart: a.outStart + outBase, outEnd: a.outEnd + outBase });
    }
  }

  #fail(err: GatewayError): GatewayError {
    this.#failed = err;
    this.#buf = '';
    return err;
  }
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
