/**
 * Contract between the detection pieces (scanner, actions, streaming transformer, protocol walkers) and the
 * pipeline. Pure: imports only core.
 */
import type { Finding } from '../core/findings.ts';

export type { Finding };

/** What happens to a finding. `block` refuses the whole request/answer. */
export type Action = 'flag' | 'mask' | 'redact' | 'tokenize' | 'block';

/** A finding with the action the compiled detection config assigned to it. */
export interface ActionedFinding extends Finding {
  readonly action: Action;
  /** Rule id from the detection config that chose the action. */
  readonly rule: string;
}

/** A compiled set of detectors. Build once per config version; `scan` is called per text. */
export interface Scanner {
  /** Findings in `text`, non-overlapping after overlap resolution, sorted by start. Throws only on a bug. */
  scan(text: string): Finding[];
  /**
   * Longest match any bounded detector can produce, in UTF-16 code units. The streaming transformer holds back
   * at most this many characters (plus the unbounded-pattern caps below).
   */
  readonly maxBoundedMatchLength: number;
  /**
   * Start markers of unbounded patterns (PEM blocks, JWTs, ...) and the cap (characters) they may be held to.
   */
  readonly unbounded: readonly { readonly detector: string; readonly startMarker: RegExp; readonly cap: number }[];
}
