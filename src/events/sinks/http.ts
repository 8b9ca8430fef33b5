import { Agent, request } from 'undici';
import type { StoredEvent } from '../repo.ts';
import { SinkError, headOf, type Sink } from './sink.ts';

/**
 * HTTP collectors. One batch is one POST; any 2xx accepts it, anything else fails the batch and the delivery loop
 * retries it with backoff: a timeout (`timeout_ms` for the whole request) as `timeout`, a connection error as
 * `request_failed`, a status as `http_<status>` — a 4xx other than 408/425/429 marked permanent, so the sink shows
 * as failing (retrying the same batch will not help; it is retried all the same, never dropped). Three body shapes:
 *  - `http`: a JSON array of OCSF events, with a configurable auth header;
 *  - `splunk_hec`: Splunk HTTP Event Collector, `POST …/services/collector/event`, `Authorization: Splunk <token>`,
 *    stacked `{"time","host","source","sourcetype","index","event"}` objects (HEC accepts several per request);
 *  - `otlp`: OpenTelemetry logs over OTLP/HTTP JSON, `POST …/v1/logs`, one logRecord per event.
 * The receiver's answer is never logged or put in an error (it could echo what we sent).
 */
export interface HttpSinkOptions {
  name: string;
  format: 'http' | 'splunk_hec' | 'otlp';
  url: string;
  batchSize: number;
  timeoutMs: number;
  /** Resolved header values (secrets included): kept in this closure only. */
  headers: Record<string, string>;
  index?: string;
  sourcetype: string;
  source: string;
  productVersion: string;
  ca?: string;
}

/** OCSF severity_id → OTLP SeverityNumber (INFO=9, INFO2=10, WARN=13, ERROR=17, FATAL=21). */
const OTLP_SEVERITY: Record<number, [number, string]> = { 1: [9, 'INFO'], 2: [10, 'INFO2'], 3: [13, 'WARN'], 4: [17, 'ERROR'], 5: [21, 'FATAL'], 6: [21, 'FATAL'] };

export function hecUrl(url: string): string {
  return url.replace(/\/+$/, '').endsWith('/services/collector/event') ? url : url.replace(/\/+$/, '') + '/services/collector/event';
}

export function otlpUrl(url: string): string {
  return url.replace(/\/+$/, '').endsWith('/v1/logs') ? url : url.replace(/\/+$/, '') + '/v1/logs';
}

export function hecBody(batch: readonly StoredEvent[], o: { index?: string; sourcetype: string; source: string; host: string }): string {
  return batch.map((e) => `{"time":${(e.at / 1000).toFixed(3)},"host":${JSON.stringify(o.host)},"source":${JSON.stringify(o.source)},"sourcetype":${JSON.stringify(o.sourcetype)}${o.index ? `,"index":${JSON.stringify(o.index)}` : ''},"event":${e.body}}`).join('\n');
}

const str = (v: string): { stringValue: string } => ({ stringValue: v });

export function otlpBody(batch: readonly StoredEvent[], o: { productVersion: string; host: string }): string {
  const logRecords = batch.map((e) => {
    const h = headOf(e);
    const [num, text] = OTLP_SEVERITY[h.severityId] ?? [9, 'INFO'];
    return {
      timeUnixNano: `${h.time}000000`,
      observedTimeUnixNano: `${Date.now()}000000`,
      severityNumber: num,
      severityText: text,
      eventName: h.code,
      body: str(e.body),
      attributes: [
        { key: 'event.id', value: str(h.uid) },
        { key: 'event.name', value: str(h.code) },
        { key: 'ocsf.class_uid', value: { intValue: String(h.classUid) } },
        { key: 'ocsf.type_uid', value: { intValue: String(h.typeUid) } },
      ],
    };
  });
  return JSON.stringify({
    resourceLogs: [{
      resource: { attributes: [{ key: 'service.name', value: str('portcullis') }, { key: 'service.version', value: str(o.productVersion) }, { key: 'host.name', value: str(o.host) }] },
      scopeLogs: [{ scope: { name: 'portcullis.events', version: o.productVersion }, logRecords }],
    }],
  });
}

/** undici's own timeouts (connect, response headers, body) count as `timeout` like the attempt deadline. */
const TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * A 4xx answer other than 408 Request Timeout, 425 Too Early and 429 Too Many Requests: the collector refuses this
 * request as sent (bad token, forbidden index, malformed or too large a body) and will refuse the same batch again.
 */
export function isPermanent(status: number): boolean {
  return status >= 400 && status <= 499 && status !== 408 && status !== 425 && status !== 429;
}

export function createHttpSink(o: HttpSinkOptions, host: string): Sink {
  const url = o.format === 'splunk_hec' ? hecUrl(o.url) : o.format === 'otlp' ? otlpUrl(o.url) : o.url;
  const dispatcher = new Agent({ connect: o.ca ? { ca: o.ca } : {}, connections: 2, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs });
  const body = (batch: readonly StoredEvent[]): string =>
    o.format === 'splunk_hec' ? hecBody(batch, { ...o, host }) : o.format === 'otlp' ? otlpBody(batch, { productVersion: o.productVersion, host }) : `[${batch.map((e) => e.body).join(',')}]`;
  return {
    name: o.name,
    batchSize: o.batchSize,
    async send(batch, signal) {
      const timeout = AbortSignal.timeout(o.timeoutMs);
      let status: number;
      try {
        const res = await request(url, {
          method: 'POST', dispatcher, signal: AbortSignal.any([signal, timeout]),
          headers: { 'content-type': 'application/json', 'user-agent': `portcullis/${o.productVersion}`, ...o.headers },
          body: body(batch),
        });
        status = res.statusCode;
        await res.body.dump();
      } catch (err) {
        const code = (err as { code?: string }).code;
        const why = signal.aborted ? 'aborted' : timeout.aborted || (code !== undefined && TIMEOUT_CODES.has(code)) ? 'timeout' : 'request_failed';
        throw new SinkError(why, `POST ${new URL(url).host} failed: ${code ?? (err as Error).name}`);
      }
      if (status < 200 || status > 299) throw new SinkError(`http_${status}`, `collector answered ${status}`, { permanent: isPermanent(status) });
    },
    async close() {
      await dispatcher.close();
    },
  };
}
