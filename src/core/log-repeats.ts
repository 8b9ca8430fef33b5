/**
 * Repeat limiting for operational warnings and errors: a failure that repeats (a store outage makes every poll and every request
 * log the same warning, dozens of times per millisecond) is written once, then summarized once per interval as
 * `repeated: N` for as long as it keeps repeating; when an interval passes without it, the next occurrence is
 * written in full again. Lines are grouped by an event key — level, event, message and the fields that classify a
 * line (code, reason, error name, status, provider, source, policy version) — so lines that differ only by a
 * per-occurrence id (exchange id, duration) count as repeats: the first one keeps its id.
 */
export interface RepeatLimiterOptions {
  intervalMs: number;
  now?: () => number;
  /** Runs `fn` after `ms` (default: an unref'd timer, so a pending summary never keeps the process alive). */
  schedule?: (fn: () => void, ms: number) => void;
}

export type LogWrite<F> = (fields: F, msg: string | undefined) => void;

interface Pending<F> {
  write: LogWrite<F>;
  fields: F;
  msg: string | undefined;
  repeated: number;
  until: number;
}

const KEY_FIELDS = ['event', 'code', 'reason', 'error_name', 'status', 'provider', 'source', 'policy_version', 'mode', 'path'] as const;

export class RepeatLimiter<F extends object> {
  readonly #o: Required<RepeatLimiterOptions>;
  readonly #open = new Map<string, Pending<F>>();
  #timerAt: number | undefined;

  constructor(o: RepeatLimiterOptions) {
    this.#o = {
      intervalMs: o.intervalMs,
      now: o.now ?? Date.now,
      schedule: o.schedule ?? ((fn, ms) => setTimeout(fn, ms).unref()),
    };
  }

  /** Writes the line now, or counts it as a repeat of one written in this interval. */
  log(level: string, write: LogWrite<F>, fields: F, msg: string | undefined): void {
    if (this.#o.intervalMs <= 0) return write(fields, msg);
    const key = keyOf(level, fields as Record<string, unknown>, msg);
    const open = this.#open.get(key);
    if (open) {
      open.repeated++;
      return;
    }
    write(fields, msg);
    this.#open.set(key, { write, fields, msg, repeated: 0, until: this.#o.now() + this.#o.intervalMs });
    this.#arm();
  }

  /** Writes the summaries of the intervals that ended; a key that did not repeat is closed. */
  flush(): void {
    const now = this.#o.now();
    for (const [key, p] of this.#open) {
      if (p.until > now) continue;
      if (p.repeated === 0) {
        this.#open.delete(key);
        continue;
      }
      p.write({ ...p.fields, repeated: p.repeated }, `repeated ${p.repeated} times in ${this.#o.intervalMs} ms${p.msg ? `: ${p.msg}` : ''}`);
      p.repeated = 0;
      p.until = now + this.#o.intervalMs;
    }
    this.#timerAt = undefined;
    this.#arm();
  }

  #arm(): void {
    if (this.#open.size === 0 || this.#timerAt !== undefined) return;
    let next = Infinity;
    for (const p of this.#open.values()) next = Math.min(next, p.until);
    this.#timerAt = next;
    this.#o.schedule(() => this.flush(), Math.max(0, next - this.#o.now()));
  }
}

function keyOf(level: string, fields: Record<string, unknown>, msg: string | undefined): string {
  const parts: unknown[] = [level, msg ?? null];
  for (const k of KEY_FIELDS) parts.push(fields[k] ?? null);
  return JSON.stringify(parts);
}
