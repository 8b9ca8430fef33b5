/**
 * One direction of one exchange, whole texts at a time (requests and non-streamed answers): scan, decide,
 * apply, and on the response side restore placeholders. Collects findings with their JSON path; blocks are
 * collected (so the record shows every reason) and reported once at the end.
 */
import type { GatewayError } from '../../core/errors.ts';
import type { Direction } from '../../core/findings.ts';
import { applyActions, contentBlockedError, evaluationError, plan, type AppliedFinding } from '../actions.ts';
import type { Finding } from '../types.ts';
import type { ContentFinding, ContentOptions, TextKind, TextSink } from './types.ts';

export class TextProcessor implements TextSink {
  readonly findings: ContentFinding[] = [];
  readonly unscannedPaths: string[] = [];
  readonly #o: ContentOptions;
  readonly #direction: Direction;
  #blocked: (AppliedFinding & { path: string })[] = [];

  constructor(opts: ContentOptions, direction: Direction) {
    this.#o = opts;
    this.#direction = direction;
  }

  text(value: string, path: string, kind: TextKind): string {
    const scanner = this.#o.scanners[this.#direction];
    let out = value;
    if (scanner && value.length > 0) {
      let found: Finding[];
      try {
        found = scanner.scan(value);
        const res = applyActions(value, plan(found, this.#direction, this.#o.actionFor), {
          direction: this.#direction,
          tokenizer: this.#o.tokenizer,
          json: kind === 'json',
          tokenizeResponses: this.#o.tokenizeResponses === true,
        });
        out = res.text;
        for (const a of res.applied) this.findings.push({ ...a, path, direction: this.#direction });
        for (const b of res.blocked) this.#blocked.push({ ...b, path });
      } catch (err) {
        // Fail closed: the caller refuses the exchange (evaluation_error), nothing unchecked goes out.
        throw evaluationError(err);
      }
    }
    if (this.#direction === 'response' && this.#o.tokenizer) out = this.#o.tokenizer.detokenize(out, kind === 'json');
    return out;
  }

  unscanned(path: string): void {
    this.unscannedPaths.push(path);
  }

  get blocked(): GatewayError | undefined {
    if (this.#blocked.length === 0) return undefined;
    return contentBlockedError(this.#blocked, this.#direction, this.#blocked[0]!.path);
  }
}
