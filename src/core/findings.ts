/**
 * What a detector found in content. Shared by detect (producer), policy (consumer: sensitivity, conditions),
 * the recorder and events. Offsets are UTF-16 code-unit offsets into the scanned text (JS string indices).
 * A finding never carries the matched value.
 */
export type Direction = 'request' | 'response';

export interface Finding {
  /** Presidio-style entity name where one exists: EMAIL_ADDRESS, CREDIT_CARD, ..., or a SECRET_* type. */
  readonly type: string;
  readonly start: number;
  readonly end: number;
  /** 0..1 confidence. */
  readonly score: number;
  /** Id of the detector/rule that produced it. */
  readonly detector: string;
  /** Where in the message it was found, e.g. `messages[2].content`, `tools[0].function.description`. */
  readonly path?: string;
  readonly direction?: Direction;
  /** What was done with it: flag | mask | redact | tokenize | block. */
  readonly action?: string;
}
