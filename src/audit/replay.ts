import type { Keyring } from '../crypto/keyring.ts';
import type { Store } from '../store/ports.ts';
import { terminalLine } from '../core/terminal-text.ts';
import { exchangeDetail, PROVIDER_RECEIVED_TEXT, providerReceived } from './exchange-view.ts';
import type { AuditRepo, SessionRow } from './repo.ts';

/** One session with every exchange decrypted: what the person sent, what the provider received, what came back. */
export interface SessionRecording {
  session: SessionRow;
  exchanges: Record<string, unknown>[];
}

/** Loads a session for replay or the admin API. Callers must check roles and chain the viewing first. */
export async function loadSession(o: { store: Store; repo: AuditRepo; keyring: Keyring; id: string }): Promise<SessionRecording | undefined> {
  const session = await o.repo.session(o.id);
  if (!session) return undefined;
  const ids = await o.repo.sessionExchanges(o.id);
  const exchanges: Record<string, unknown>[] = [];
  for (const id of ids) {
    const d = await exchangeDetail(o.store, o.keyring, id);
    if (d) exchanges.push(d);
  }
  return { session, exchanges };
}

export function sessionView(s: SessionRow): Record<string, unknown> {
  return {
    id: s.id, subject: s.subject, grouped_by: s.source, first_at: new Date(s.firstAt).toISOString(), last_at: new Date(s.lastAt).toISOString(),
    exchange_count: s.exchangeCount,
  };
}

export interface ReplayOptions {
  out: NodeJS.WritableStream;
  /** 2 = twice as fast. */
  speed: number;
  /** false = print everything at once. */
  wait: boolean;
  /** Idle time between two exchanges is shortened to at most this (ms, before the speed factor). */
  maxGapMs: number;
  /** Injectable for tests; default a timer. Resolves after `ms`; the CLI's version also honours pause. */
  sleep?: (ms: number) => Promise<void>;
}

type Detail = Record<string, unknown> & { forwarded?: boolean | null; upstream_request_modified?: boolean; events: { t_ms: number; event: string | null; data: string; upstream_data?: string }[] };

/** Primitives as themselves, anything else as JSON (recorded values are untrusted shapes). */
const str = (v: unknown): string => (typeof v === 'string' ? v : v === null || v === undefined ? '' : (JSON.stringify(v) ?? ''));

const timerSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Plays a session back in the terminal with its original pacing (stream events carry times relative to the exchange start). */
export async function replaySession(rec: SessionRecording, o: ReplayOptions): Promise<void> {
  const sleep = o.sleep ?? timerSleep;
  const pause = async (ms: number): Promise<void> => {
    if (o.wait && ms > 0) await sleep(ms / o.speed);
  };
  // Every line is recorded, client-supplied text: shown with its control characters escaped (src/core/terminal-text.ts).
  const line = (s: string): void => void o.out.write(terminalLine(s) + '\n');
  const s = rec.session;
  line(`session ${s.id} · ${s.subject ?? '-'} · ${s.exchangeCount} exchange(s) · ${new Date(s.firstAt).toISOString()} .. ${new Date(s.lastAt).toISOString()} · grouped by ${s.source}`);
  let prevEnd: number | undefined;
  for (const raw of rec.exchanges) {
    const d = raw as Detail;
    const started = Date.parse(str(d.started_at));
    if (prevEnd !== undefined) await pause(Math.min(Math.max(started - prevEnd, 0), o.maxGapMs));
    line('');
    line(`━━ ${str(d.id)} · ${str(d.started_at)} · ${str(d.subject ?? '-')} · ${str(d.endpoint)} ${str(d.model ?? '-')} → ${str(d.provider ?? '-')}${d.upstream_model ? ` (${str(d.upstream_model)})` : ''} · ${str(d.status)} ${str(d.http_status ?? '')}`);
    line(`   decision: ${describeDecision(d.decision)}`);
    line(`   findings: ${describeFindings(d.findings)}`);
    line('>> sent:');
    for (const t of requestText(d.client_request)) line(`   ${t}`);
    const received = providerReceived(d);
    line(`>> ${PROVIDER_RECEIVED_TEXT[received]}`);
    if (received === 'changed') for (const t of requestText(d.upstream_request)) line(`   ${t}`);
    let t = 0;
    for (const e of d.events) {
      await pause(e.t_ms - t);
      t = e.t_ms;
      line(`<< +${e.t_ms.toFixed(1)}ms ${e.event ? `${e.event} ` : ''}${e.data}`);
      if (e.upstream_data !== undefined) line(`   (provider sent: ${e.upstream_data})`);
    }
    if (d.response !== null && d.response !== undefined) line(`<< response: ${responseText(d.response)}`);
    const rf = d.response_findings as unknown[] | undefined;
    if (rf && rf.length > 0) line(`   response findings: ${describeFindings(rf)}`);
    const totalMs = (d.timings as { total_ms?: number | null } | null)?.total_ms ?? t;
    prevEnd = started + totalMs;
  }
}

function describeDecision(v: unknown): string {
  if (!v || typeof v !== 'object') return 'none recorded';
  const d = v as Record<string, unknown>;
  const reasons = Array.isArray(d.reasons) ? d.reasons.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join(', ') : '';
  const version = d.policy_version;
  const rules = Array.isArray(d.matched_rule_ids) && d.matched_rule_ids.length > 0 ? ` rules ${d.matched_rule_ids.map(str).join(', ')}` : '';
  return `${str(d.effect ?? '?')}${reasons ? ` (${reasons})` : ''}${version !== undefined ? ` policy ${str(version)}` : ''}${rules}`;
}

function describeFindings(v: unknown): string {
  if (!Array.isArray(v) || v.length === 0) return 'none';
  const counts = new Map<string, number>();
  for (const f of v) {
    const o = (f ?? {}) as Record<string, unknown>;
    const k = `${str(o.type ?? o.detector ?? 'finding')}${o.action ? `→${str(o.action)}` : ''}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k}×${n}`).join(', ');
}

/** Readable lines of a request body: chat/Anthropic messages, Responses input, legacy prompt; JSON otherwise. */
export function requestText(body: unknown): string[] {
  if (body === null || body === undefined) return ['(not recorded)'];
  if (typeof body !== 'object') return [str(body)];
  const b = body as Record<string, unknown>;
  const out: string[] = [];
  if (b.system !== undefined) out.push(`system: ${partsText(b.system)}`);
  if (b.instructions !== undefined) out.push(`instructions: ${partsText(b.instructions)}`);
  if (Array.isArray(b.messages)) for (const m of b.messages as Record<string, unknown>[]) out.push(`${str(m.role ?? '?')}: ${partsText(m.content ?? m.tool_calls ?? '')}`);
  else if (b.input !== undefined) {
    if (Array.isArray(b.input)) for (const m of b.input as Record<string, unknown>[]) out.push(typeof m === 'object' && m && 'role' in m ? `${str(m.role)}: ${partsText(m.content)}` : partsText(m));
    else out.push(`input: ${partsText(b.input)}`);
  } else if (b.prompt !== undefined) out.push(`prompt: ${partsText(b.prompt)}`);
  return out.length > 0 ? out : [JSON.stringify(body)];
}

function partsText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map((p) => (typeof p === 'object' && p && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : JSON.stringify(p))).join(' ');
  return JSON.stringify(v);
}

function responseText(v: unknown): string {
  if (typeof v !== 'object' || v === null) return str(v);
  const r = v as Record<string, unknown>;
  if (Array.isArray(r.choices)) return r.choices.map((c: { message?: { content?: unknown }; text?: unknown }) => partsText(c.message?.content ?? c.text ?? '')).join(' | ');
  if (Array.isArray(r.content)) return partsText(r.content);
  if (typeof r.output_text === 'string') return r.output_text;
  return JSON.stringify(v);
}
