/**
 * External recognizers (names, addresses: what patterns cannot find) behind the Presidio analyzer REST API
 * (`POST {url}/analyze` with `{text, language, entities?, score_threshold?}` → `[{entity_type, start, end, score}]`).
 * This is the I/O edge of detection: `Scanner.scan` is synchronous, so the request's texts are analyzed BEFORE
 * the walkers run (`prescanRequest`), and a scanner that merges those findings into the built-in ones is handed
 * to the request transform. Fail closed: a timeout, an HTTP error or a malformed answer refuses the request
 * (GatewayError `evaluation_error`, no content in the message). Answers are cached per text, because chat clients
 * resend the whole conversation every turn.
 */
import { GatewayError } from '../core/errors.ts';
import type { Finding } from '../core/findings.ts';
import { walkRequest } from './content/request.ts';
import type { Api } from './content/types.ts';
import type { Scanner } from './types.ts';

export interface PresidioOptions {
  /** Base URL of the analyzer, e.g. `http://presidio-analyzer:3000`. */
  readonly url: string;
  /** Per call; default 2000 ms. */
  readonly timeoutMs?: number;
  readonly language?: string;
  /** Presidio entity names to ask for (default PERSON, LOCATION, NRP, ORGANIZATION). */
  readonly entities?: readonly string[];
  /** Findings below this score are dropped (default 0.5). */
  readonly minScore?: number;
  /** Refuse requests with more texts or characters than this instead of sending them (defaults 256 / 200,000). */
  readonly maxTexts?: number;
  readonly maxChars?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Cached answers (texts up to 16 KiB); default 2000, 0 disables. */
  readonly cacheEntries?: number;
}

export interface ExternalRecognizer {
  /** Findings per distinct text. Throws GatewayError (fail closed). */
  analyze(texts: readonly string[]): Promise<Map<string, Finding[]>>;
}

const DEFAULT_ENTITIES = ['PERSON', 'LOCATION', 'NRP', 'ORGANIZATION'];
const CACHE_TEXT_MAX = 16 * 1024;

export function createPresidioRecognizer(o: PresidioOptions): ExternalRecognizer {
  const endpoint = new URL('analyze', o.url.endsWith('/') ? o.url : `${o.url}/`).toString();
  const timeoutMs = o.timeoutMs ?? 2000;
  const minScore = o.minScore ?? 0.5;
  const entities = [...(o.entities ?? DEFAULT_ENTITIES)];
  const maxTexts = o.maxTexts ?? 256;
  const maxChars = o.maxChars ?? 200_000;
  const cacheMax = o.cacheEntries ?? 2000;
  const cache = new Map<string, Finding[]>();

  async function analyzeOne(text: string, signal: AbortSignal): Promise<Finding[]> {
    const hit = cache.get(text);
    if (hit) return hit;
    let res: Response;
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...o.headers },
        body: JSON.stringify({ text, language: o.language ?? 'en', entities, score_threshold: minScore }),
        // The prompt text must reach only the configured analyzer: a redirect is a failure (fail closed).
        redirect: 'error',
        signal,
      });
    } catch (err) {
      throw failure(signal.aborted ? 'did not answer in time' : 'could not be reached', err);
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw failure(`answered HTTP ${res.status}`);
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch (err) {
      throw failure(signal.aborted ? 'did not answer in time' : 'sent a malformed answer', err);
    }
    const findings = parseAnswer(body, text, minScore);
    if (cacheMax > 0 && text.length <= CACHE_TEXT_MAX) {
      if (cache.size >= cacheMax) cache.delete(cache.keys().next().value!);
      cache.set(text, findings);
    }
    return findings;
  }

  return {
    async analyze(texts) {
      const distinct = [...new Set(texts.filter((t) => t.length > 0))];
      const chars = distinct.reduce((n, t) => n + t.length, 0);
      if (distinct.length > maxTexts || chars > maxChars) throw failure('was not asked: the request has too much text for it');
      const signal = AbortSignal.timeout(timeoutMs);
      const results = await Promise.all(distinct.map((t) => analyzeOne(t, signal)));
      return new Map(distinct.map((t, i) => [t, results[i]!]));
    },
  };
}

function failure(what: string, cause?: unknown): GatewayError {
  return new GatewayError('evaluation_error', `The external content recognizer ${what}; the request was not forwarded.`, cause === undefined ? {} : { cause });
}

/** Presidio answers in Unicode code points (Python string indices); findings use UTF-16 offsets. */
function parseAnswer(body: unknown, text: string, minScore: number): Finding[] {
  if (!Array.isArray(body)) throw failure('sent a malformed answer');
  const toUtf16 = codePointIndex(text);
  const out: Finding[] = [];
  for (const r of body as unknown[]) {
    const x = r as { entity_type?: unknown; start?: unknown; end?: unknown; score?: unknown };
    if (typeof x.entity_type !== 'string' || !/^[A-Z][A-Z0-9_]{0,63}$/.test(x.entity_type) || !Number.isInteger(x.start) || !Number.isInteger(x.end) || typeof x.score !== 'number') {
      throw failure('sent a malformed answer');
    }
    const start = toUtf16(x.start as number);
    const end = toUtf16(x.end as number);
    if (start === undefined || end === undefined || end <= start) throw failure('sent a malformed answer');
    if (x.score < minScore) continue;
    out.push({ type: x.entity_type, start, end, score: Math.min(1, Math.max(0, x.score)), detector: `external.${x.entity_type.toLowerCase()}` });
  }
  return out;
}

function codePointIndex(text: string): (cp: number) => number | undefined {
  if (!/[\ud800-\udfff]/.test(text)) return (cp) => (cp >= 0 && cp <= text.length ? cp : undefined);
  const map: number[] = [];
  let i = 0;
  for (const ch of text) {
    map.push(i);
    i += ch.length;
  }
  map.push(i);
  return (cp) => map[cp];
}

/**
 * A scanner that adds pre-computed external findings to `base`'s for the same text. A text that was not
 * pre-analyzed makes `scan` throw (the walker turns that into a refusal: fail closed).
 */
export function withExternalFindings(base: Scanner, found: ReadonlyMap<string, readonly Finding[]>): Scanner {
  return {
    maxBoundedMatchLength: base.maxBoundedMatchLength,
    unbounded: base.unbounded,
    scan(text) {
      const own = base.scan(text);
      if (text.length === 0) return own;
      const ext = found.get(text);
      if (!ext) throw new Error('text was not analyzed by the external recognizer');
      return ext.length === 0 ? own : merge(own, ext);
    },
  };
}

/** Built-in findings win ties; otherwise the higher score, then the longer span. */
function merge(own: readonly Finding[], ext: readonly Finding[]): Finding[] {
  const all = [...own.map((f) => ({ f, own: 1 })), ...ext.map((f) => ({ f, own: 0 }))];
  all.sort((a, b) => b.f.score - a.f.score || b.own - a.own || (b.f.end - b.f.start) - (a.f.end - a.f.start));
  const kept: Finding[] = [];
  for (const { f } of all) if (!kept.some((k) => f.start < k.end && k.start < f.end)) kept.push(f);
  return kept.sort((a, b) => a.start - b.start);
}

/** Every text of a request body the walkers will scan (same walker, so the same strings). */
export function requestTexts(api: Api, body: unknown): string[] {
  const texts: string[] = [];
  walkRequest(api, body, {
    text(value) {
      texts.push(value);
      return value;
    },
    unscanned() {},
  });
  return texts;
}

/** Analyze a request's texts with the recognizer and return the request scanner to use for this exchange. */
export async function prescanRequest(api: Api, body: unknown, base: Scanner, recognizer: ExternalRecognizer): Promise<Scanner> {
  return withExternalFindings(base, await recognizer.analyze(requestTexts(api, body)));
}
