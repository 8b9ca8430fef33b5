import type { StoredEvent } from '../repo.ts';

/**
 * A destination for events. `send` resolves only when the batch is accepted by the receiver (HTTP 2xx, written
 * and fsynced, handed to the socket), and rejects otherwise; the delivery loop then retries the same batch, so
 * receivers may see an event twice (at least once) and de-duplicate on `metadata.uid`.
 */
export interface Sink {
  readonly name: string;
  readonly batchSize: number;
  send(batch: readonly StoredEvent[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** Error for a delivery failure, with a closed-vocabulary code for logs and health (never the receiver's body). */
export class SinkError extends Error {
  override readonly name = 'SinkError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The OCSF fields sinks use to build their envelopes (everything else stays inside the serialized event). */
export interface EventHead {
  uid: string;
  time: number;
  severityId: number;
  classUid: number;
  typeUid: number;
  code: string;
}

export function headOf(e: StoredEvent): EventHead {
  const o = JSON.parse(e.body) as { severity_id?: number; class_uid?: number; type_uid?: number };
  return { uid: e.id, time: e.at, severityId: o.severity_id ?? 0, classUid: o.class_uid ?? 0, typeUid: o.type_uid ?? 0, code: e.type };
}
