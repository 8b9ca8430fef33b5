import type { ExchangeRecording } from '../audit/recorder.ts';
import type { Finding } from '../core/findings.ts';
import type { McpVersion } from '../governance/mcp-version.ts';
import type { CallVerdict } from './decide.ts';
import type { McpDeps } from './http.ts';
import type { McpMessage, RefusalCode } from './jsonrpc.ts';
import { inputRequestsOf } from './modern.ts';
import type { Exchange } from './relay.ts';
import { GOVERNED_SERVER_REQUESTS, scanAnswer, serverRequestDecision } from './server-requests.ts';
import type { McpTokens } from './tokens.ts';

type Inbound = Extract<McpMessage, { kind: 'request' | 'notification' }>;

/** One `inputResponses` entry matched to the embedded request the gateway relayed for it. */
export interface MatchedResponse {
  key: string;
  method: string;
  value: unknown;
}

/** What the agent's `inputResponses` may do: go on (each matched to its relayed request), or refuse the call. */
export type InputResponses = { matched: MatchedResponse[] } | { refusal: { code: RefusalCode; message: string } };

const NONE: InputResponses = { matched: [] };

/**
 * What a multi round-trip request (SEP-2322) names: its retry must be the same request, so the embedded requests of
 * its `input_required` result are answered only in a retry of the same method and tool, prompt or resource.
 */
export function roundTripOf(method: string, params: Record<string, unknown> | undefined): string {
  const name = method === 'resources/read' ? params?.uri : params?.name;
  return `${method}\0${typeof name === 'string' ? name : ''}`;
}

const entryKey = (ex: Exchange, key: string): { server: string; session: undefined; subject: string; id: string } =>
  ({ server: ex.server, session: undefined, subject: ex.principal.subject, id: `${ex.roundTrip ?? ''}\0${key}` });

/**
 * Notes the embedded requests of an `input_required` result the gateway lets through to a 2026-07-28 caller
 * (input-required.ts judged them), so the answers in the caller's retry can be matched to them. Returns the method
 * of one it could not note (the ledger is full: the result is refused rather than its answers let through unread).
 */
export function noteInputRequests(d: McpDeps, ex: Exchange, message: Record<string, unknown>): { method: string } | undefined {
  const requests = inputRequestsOf(message) ?? {};
  for (const [key, entry] of Object.entries(requests)) {
    const method = typeof entry.method === 'string' ? entry.method : '';
    if (!(d.inputRequests?.add(entryKey(ex, key), { method, at: d.clock.now(), recording: undefined, mono0: ex.mono0 }) ?? false)) return { method: method.slice(0, 64) || '(none)' };
  }
  return undefined;
}

/**
 * The agent's `params.inputResponses` (2026-07-28 retry), each matched to an embedded request the gateway relayed
 * to this caller for this request — per server, identity, request and key, once. An entry the gateway never relayed
 * (forged, another caller's, another request's, already answered), one whose method the caller's policy no longer
 * allows, or one that came after the gateway stopped waiting refuses the whole call: nothing is forwarded. Any era:
 * a session-based caller never gets embedded requests, so `inputResponses` from it is refused too (a server that
 * speaks both eras must not read an answer the gateway never scanned). `requestState` is not read (docs/mcp.md).
 */
export function takeInputResponses(d: McpDeps, ex: Exchange, msg: Inbound): InputResponses {
  const given = msg.params?.inputResponses;
  if (given === undefined) return NONE;
  if (typeof given !== 'object' || given === null || Array.isArray(given)) return refused('`params.inputResponses` must be an object.');
  const matched: MatchedResponse[] = [];
  for (const [key, value] of Object.entries(given as Record<string, unknown>)) {
    const relayed = d.inputRequests?.take(entryKey(ex, key), d.clock.now());
    if (relayed === 'expired') return { refusal: { code: 'content_blocked', message: 'An input response came after the gateway stopped waiting for it; the call was not forwarded.' } };
    if (!relayed) return refused('An input response answers no input request the gateway relayed to you for this call; the call was not forwarded.');
    if (GOVERNED_SERVER_REQUESTS.has(relayed.method) && serverRequestDecision(d, ex, relayed.method)?.effect !== 'allow') {
      return refused(`The gateway does not allow ${relayed.method} from MCP servers; the call was not forwarded.`);
    }
    matched.push({ key, method: relayed.method, value });
  }
  return { matched };
}

const refused = (message: string): InputResponses => ({ refusal: { code: 'unrequested_input_response', message } });

/** One answer's outcome, for the call's record (`portcullis.server_request_answer`: method and findings, never values). */
export interface AnswerOutcome {
  key: string;
  method: string;
  findings: (Finding & Record<string, unknown>)[];
}

/**
 * The call's verdict with its sampling and elicitation answers through the detectors on their way to the server,
 * exactly as a session-based agent's answers go (server-requests.ts `scanAnswer`: placeholders restored within the
 * tokenization scope, then `mask`/`redact`/`tokenize`; `block` refuses the call with `content_blocked`). Runs with
 * the call's own tokens, so a vault that cannot be read or written refuses the call (fail closed, post.ts). Other
 * answers (`roots/list`) pass unread, as they do in a session. A refusal the call already has stays.
 */
export function withInputResponses(v: McpVersion | 'open', verdict: CallVerdict, msg: Inbound, matched: MatchedResponse[], tokens: McpTokens | undefined): CallVerdict & { answers: AnswerOutcome[] } {
  if (matched.length === 0) return { ...verdict, answers: [] };
  const base = verdict.rewritten ?? msg.raw;
  const params = base.params as Record<string, unknown>;
  const responses = { ...(params.inputResponses as Record<string, unknown>) };
  const answers: AnswerOutcome[] = [];
  let changed = false;
  let blocked: string | undefined;
  for (const m of matched) {
    if (v === 'open' || !GOVERNED_SERVER_REQUESTS.has(m.method)) {
      answers.push({ key: m.key, method: m.method, findings: [] });
      continue;
    }
    const scanned = scanAnswer(v.content, m.value, `params.inputResponses.${m.key}`, tokens);
    answers.push({ key: m.key, method: m.method, findings: scanned.findings });
    if (scanned.blocked) blocked ??= scanned.blocked.publicMessage;
    if (scanned.changed) {
      responses[m.key] = scanned.value;
      changed = true;
    }
  }
  const findings = [...verdict.findings, ...answers.flatMap((a) => a.findings)];
  const rewritten = changed ? { ...base, params: { ...params, inputResponses: responses } } : verdict.rewritten;
  const refusal = verdict.refusal ?? (blocked === undefined ? undefined : { code: 'content_blocked' as const, message: blocked });
  return { ...verdict, findings, rewritten, refusal, answers };
}

/** Each answer as an event of the call that carried it to the server (only for a call that went out). */
export function recordAnswers(rec: ExchangeRecording, t: number, answers: AnswerOutcome[]): void {
  for (const a of answers) rec.event(t, 'portcullis.server_request_answer', JSON.stringify({ method: a.method, key: a.key.slice(0, 128), outcome: 'forwarded', findings: a.findings }));
}
