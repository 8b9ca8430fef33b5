import type { ExchangeFinish, ExchangeStart } from '../store/ports.ts';

/**
 * Seam for everything that must see each exchange: the hash-chained audit trail, the event outbox, metrics.
 * `onStart` is awaited before the request goes upstream and `onFinish` before the exchange counts as recorded:
 * a throw from either fails the exchange closed (the request is refused / recorded as failed).
 * Observers receive sealed bodies only; they must never log or emit content.
 */
export interface ExchangeObserver {
  readonly name: string;
  onStart?(start: ExchangeStart): Promise<void>;
  onFinish?(start: ExchangeStart, finish: ExchangeFinish): Promise<void>;
}
