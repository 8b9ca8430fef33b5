/**
 * Persistence port of the event outbox. Events are written to the same store as the exchange record, so an
 * event that was accepted survives a crash; each sink keeps its own cursor (position of the last delivered event),
 * so a slow or down sink never holds back the others, and delivery resumes from the cursor after a restart.
 */
export interface OutboxEvent {
  /** Stable event id (the OCSF `metadata.uid`): receivers de-duplicate on it. */
  id: string;
  at: number;
  type: string;
  /** Serialized OCSF event. */
  body: string;
}

export interface StoredEvent extends OutboxEvent {
  /** Monotonic position in the outbox (delivery order). */
  pos: number;
}

export interface SinkBacklog {
  sink: string;
  cursor: number;
  backlog: number;
  /** `at` of the oldest undelivered event, null when caught up. */
  oldestAt: number | null;
}

export interface OutboxRepo {
  /**
   * Adds events (an id already present is ignored: re-emitting after a crash does not duplicate). Throws
   * 'outbox full' when more than `maxBacklog` events are undelivered.
   */
  enqueue(events: OutboxEvent[], maxBacklog: number | null): Promise<void>;
  /**
   * Up to `limit` events after the sink's cursor, or null when another process holds the sink's delivery lease
   * (several replicas: exactly one delivers per sink at a time; the lease expires if its holder dies).
   */
  fetch(o: { sink: string; owner: string; leaseMs: number; now: number; limit: number }): Promise<StoredEvent[] | null>;
  ack(sink: string, pos: number, now: number): Promise<void>;
  backlog(sinks: string[]): Promise<SinkBacklog[]>;
  /**
   * Deletes events that every listed sink, and every other sink whose cursor was used since `activeSince`, has
   * delivered; returns how many. (During a rolling deploy that adds a sink, replicas that do not know it yet
   * must not prune what it has not delivered.)
   */
  prune(sinks: string[], activeSince: number): Promise<number>;
  /** Undelivered events in total (for the full-outbox policy). */
  size(): Promise<number>;
}
