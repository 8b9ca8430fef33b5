import type { JsonRpcId } from './jsonrpc.ts';

/**
 * Requests forwarded and not yet answered, per server and upstream session: a response is only relayed to the
 * client as the answer to a request the gateway forwarded, and always through the controls of that request's
 * method. This closes the side door of a server that answers a request on another stream (its GET stream, or a
 * resumed one) to slip an unfiltered `tools/list` or an unscanned result past the gateway. Bounded: the oldest
 * entries go first, and entries expire.
 */
export class PendingRequests {
  readonly #entries = new Map<string, { method: string; at: number }>();
  readonly #max: number;
  readonly #ttlMs: number;

  constructor(o: { max?: number; ttlMs?: number } = {}) {
    this.#max = o.max ?? 50_000;
    this.#ttlMs = o.ttlMs ?? 15 * 60_000;
  }

  add(server: string, session: string | undefined, id: JsonRpcId, method: string, now: number): void {
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key(server, session, id), { method, at: now });
  }

  /** The method of the forwarded request this response answers; undefined: not a request the gateway forwarded. */
  take(server: string, session: string | undefined, id: JsonRpcId | null, now: number): string | undefined {
    if (id === null) return undefined;
    const k = key(server, session, id);
    const e = this.#entries.get(k);
    if (!e) return undefined;
    this.#entries.delete(k);
    return now - e.at <= this.#ttlMs ? e.method : undefined;
  }
}

function key(server: string, session: string | undefined, id: JsonRpcId): string {
  return `${server}\0${session ?? ''}\0${typeof id}:${String(id)}`;
}
