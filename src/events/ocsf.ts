import { newId } from '../core/ids.ts';
import type { IdentityEvent } from '../identity/events.ts';
import type { ExchangeFinish, ExchangeStart } from '../store/ports.ts';
import { exchangeEventCode, exchangeEventId, mapExchange, type MapContext } from './map-exchange.ts';
import { mapIdentity } from './map-identity.ts';
import { mapSecurity } from './map-security.ts';
import type { OcsfEvent, ProductInfo } from './ocsf-base.ts';
import type { OutboxEvent } from './repo.ts';
import { createFieldHasher } from '../core/sanitize.ts';
import type { SecurityEvent } from './types.ts';

/** Turns every event source into an outbox row: stable id, time, Portcullis type, serialized OCSF event. */
export interface EventMapper {
  exchange(start: ExchangeStart, fin: ExchangeFinish): OutboxEvent;
  identity(e: IdentityEvent): OutboxEvent;
  security(e: SecurityEvent): OutboxEvent;
}

export function createEventMapper(o: { hashKey: Uint8Array; productVersion: string }): EventMapper {
  const product: ProductInfo = { name: 'Portcullis', vendor_name: 'Portcullis', version: o.productVersion };
  const c: MapContext = { product, hasher: createFieldHasher(o.hashKey) };
  const row = (id: string, type: string, at: number, ev: OcsfEvent): OutboxEvent => ({ id, type, at, body: JSON.stringify(ev) });
  return {
    exchange: (s, f) => row(exchangeEventId(s.id), exchangeEventCode(s, f), f.finishedAt, mapExchange(s, f, c)),
    identity: (e) => {
      const id = newId('evt', e.at);
      return row(id, e.type, e.at, mapIdentity(e, id, c));
    },
    security: (e) => {
      const id = e.id ?? newId('evt', e.at);
      return row(id, e.type, e.at, mapSecurity(e, id, c));
    },
  };
}

export type { OcsfEvent } from './ocsf-base.ts';
