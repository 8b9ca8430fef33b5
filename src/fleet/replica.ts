import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { errorName, type GatewayLogger } from '../core/logger.ts';
import type { ExchangeFinish, ExchangeRow, ReplicaLease, Store } from '../store/ports.ts';

export interface ReplicaOptions {
  store: Store;
  clock: Clock;
  logger: GatewayLogger;
  /** This process's audit chain; the lease id is `<writer>.<random>`, unique per process start. */
  writer: string;
  heartbeatIntervalMs: number;
  /** A lease not renewed for this long counts as dead: its in-flight exchanges are recovered by whoever is alive. */
  leaseTtlMs: number;
  /**
   * Where the replicas do not share the store (SQLite: one process), every other lease is an earlier run of this
   * gateway, recovered at once at start instead of after its lease expires.
   */
  singleProcess: boolean;
  /** Ends one orphaned exchange (conditional write, then the audit chain and the other observers); false if already ended. */
  end(row: ExchangeRow, finish: ExchangeFinish): Promise<boolean>;
}

/** Exchanges without an owner were written before leases existed; they are recovered once this old. */
export const UNOWNED_GRACE_MS = 3_600_000;
const BATCH = 100;

/**
 * One gateway process in the fleet: it holds a lease renewed by heartbeat, stamps the exchanges it serves with the
 * lease id, and, on each beat, recovers the in-flight exchanges of replicas whose lease expired — marking them
 * `incomplete` (`replica_lost`; `gateway_restarted` for this gateway's own earlier run on SQLite) and chaining
 * their end. Each exchange is ended by one conditional write, so with several live replicas recovering at once,
 * each is ended — and chained — exactly once. A dead lease is deleted once it owns nothing in progress.
 */
export class Replica {
  readonly id: string;
  readonly #o: ReplicaOptions;
  readonly #startedAt: number;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;
  /** When the last heartbeat succeeded (0: never): past the TTL, this replica may already count as dead. */
  #lastBeat = 0;

  constructor(o: ReplicaOptions) {
    if (!(o.heartbeatIntervalMs > 0) || !(o.leaseTtlMs > o.heartbeatIntervalMs)) throw new TypeError('replica lease needs 0 < heartbeat interval < lease ttl');
    this.#o = o;
    this.id = `${o.writer}.${randomBytes(4).toString('hex')}`;
    this.#startedAt = o.clock.now();
  }

  /** Takes the lease (a start fails if the store cannot be reached) and recovers what is orphaned now. */
  async start(): Promise<void> {
    await this.#beat();
    await this.recover(this.#o.singleProcess);
    this.#timer = setInterval(() => void this.#runTick(), this.#o.heartbeatIntervalMs);
    this.#timer.unref();
  }

  /** Whether this replica's lease is known to be current (readiness). */
  leaseHeld(): boolean {
    return this.#o.clock.now() - this.#lastBeat < this.#o.leaseTtlMs;
  }

  #runTick(): Promise<void> {
    this.#tick ??= (async () => {
      try {
        await this.#beat();
        await this.recover(false);
      } catch (err) {
        this.#o.logger.warn({ event: 'replica_heartbeat_failed', error_name: errorName(err) }, 'could not renew the replica lease or recover orphaned exchanges');
      } finally {
        this.#tick = undefined;
      }
    })();
    return this.#tick;
  }

  async #beat(): Promise<void> {
    const now = this.#o.clock.now();
    const lease: ReplicaLease = { id: this.id, writer: this.#o.writer, startedAt: this.#startedAt, heartbeatAt: now, expiresAt: now + this.#o.leaseTtlMs };
    const created = await this.#o.store.replicas.heartbeat(lease);
    if (created && this.#lastBeat > 0) {
      this.#o.logger.warn({ event: 'replica_lease_lost', reason: this.id }, 'this replica was taken for dead (its lease had expired) and re-took its lease; exchanges it served meanwhile may have been recorded as interrupted');
    }
    this.#lastBeat = now;
  }

  /** Ends every orphaned exchange (in batches); returns how many this replica ended. */
  async recover(othersDead: boolean): Promise<number> {
    const { store, clock } = this.#o;
    let ended = 0;
    for (;;) {
      const now = clock.now();
      const rows = await store.replicas.orphaned({ now, self: this.id, othersDead, unownedBefore: now - UNOWNED_GRACE_MS, limit: BATCH });
      let progressed = false;
      for (const row of rows) {
        if (!(await this.#o.end(row, interruptedFinish(row, now, othersDead ? 'gateway_restarted' : 'replica_lost')))) continue;
        ended++;
        progressed = true;
      }
      if (rows.length < BATCH || !progressed) break;
    }
    await store.replicas.prune({ now: clock.now(), self: this.id, othersDead });
    if (ended > 0) this.#o.logger.warn({ event: 'exchanges_recovered', count: ended }, 'in-flight exchanges of a replica that is gone were recorded as interrupted');
    return ended;
  }

  /** Stops the heartbeat and ends the lease; call after this replica's own exchanges have ended. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#tick;
    await this.#o.store.replicas.release(this.id);
  }
}

/** The record of an exchange whose process went away: what was streamed stays in its segments. */
export function interruptedFinish(row: ExchangeRow, now: number, errorCode: string): ExchangeFinish {
  return {
    id: row.id, finishedAt: now, status: 'incomplete', httpStatus: null, errorCode,
    timings: { upstreamFirstByteMs: null, clientFirstByteMs: null, totalMs: now - row.startedAt },
    usage: { inputTokens: null, outputTokens: null, totalTokens: null }, response: null, eventCount: 0, responseFindings: [],
    // Whether the dead process had sent the request is not known; the recorder says yes once events were stored.
    forwarded: null,
  };
}
