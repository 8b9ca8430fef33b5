import type { ExchangeRecording } from '../audit/recorder.ts';
import type { Finding } from '../core/findings.ts';
import type { McpVersion } from '../governance/mcp-version.ts';
import type { CallVerdict } from './decide.ts';
import type { McpDeps } from './http.ts';
import type { McpMessage, RefusalCode } from './jsonrpc.ts';
import { inputRequestsOf } from './modern.ts';
import { isEnvelope } from './round-trip-envelope.ts';
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

/**
 * A retry the gateway may forward: its answers, each matched to a relayed request, and — when it carried the
 * gateway's envelope — the server's own `requestState` to put back (null: the server sent none, so none goes).
 */
export interface OpenedRoundTrip {
  matched: MatchedResponse[];
  restore?: { state: string | null } | undefined;
}

/** What the agent's `inputResponses` and `requestState` may do: go on, or refuse the call. */
export type InputResponses = OpenedRoundTrip | { refusal: { code: RefusalCode; message: string } };

export const NO_ROUND_TRIP: OpenedRoundTrip = { matched: [] };

/**
 * What a multi round-trip request (SEP-2322) names: its retry must be the same request, so the embedded requests of
 * its `input_required` result are answered only in a retry of the same method and tool, prompt or resource.
 */
export function roundTripOf(method: string, params: Record<string, unknown> | undefined): string {
  const name = method === 'resources/read' ? params?.uri : params?.name;
  return `${method}\0${typeof name === 'string' ? name : ''}`;
}

/**
 * An `input_required` result the gateway lets through to a 2026-07-28 caller (input-required.ts judged its embedded
 * requests), with its `requestState` replaced by the gateway's envelope (round-trip-envelope.ts): the server's
 * original state (from `raw`, the server's own bytes, not the detectors' copy: the agent never reads it), the
 * caller, server, request and the embedded requests' methods, sealed for an hour. The retry's answers are matched
 * against it on whichever replica the retry reaches. Any other answer is returned as it is.
 */
export function sealRoundTrip(d: McpDeps, ex: Exchange, message: Record<string, unknown>, raw: Record<string, unknown>): Record<string, unknown> {
  const requests = inputRequestsOf(message);
  if (requests === undefined) return message;
  const state = (raw.result as Record<string, unknown> | undefined)?.requestState;
  const envelope = d.roundTrips.seal({
    // The schema makes `requestState` a string; anything else is not echoed (no client could send it back).
    state: typeof state === 'string' ? state : null,
    subject: ex.principal.subject, server: ex.server, roundTrip: ex.roundTrip ?? '',
    requests: Object.fromEntries(Object.entries(requests).map(([key, entry]) => [key, typeof entry.method === 'string' ? entry.method : ''])),
  }, d.clock.now());
  return { ...message, result: { ...(message.result as Record<string, unknown>), requestState: envelope } };
}

/**
 * The retry's `params.requestState` and `params.inputResponses` (2026-07-28). A gateway envelope must open with the
 * master-derived key and name this caller, server and request, within its hour; every `inputResponses` entry must
 * answer one of the embedded requests it lists, and the caller's policy must still allow that method. Otherwise the
 * whole call is refused and nothing is forwarded: `inputResponses` without an envelope (forged, or a session-based
 * caller's — a server that speaks both eras must not read an answer the gateway never scanned), an altered envelope,
 * another caller's, another request's; one past its hour gets `content_blocked`. Checked in every era. A
 * `requestState` that is not an envelope passes untouched only in a retry without `inputResponses`.
 * An envelope is not spent by its retry: the same caller may send the same call again with it, and each time its
 * answers are scanned again; whether the round trip may be replayed is the server's to judge, as for any retry.
 */
export function takeInputResponses(d: McpDeps, ex: Exchange, msg: Inbound): InputResponses {
  const given = msg.params?.inputResponses;
  const state = msg.params?.requestState;
  if (given === undefined && !isEnvelope(state)) return NO_ROUND_TRIP;
  if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given))) return refused('`params.inputResponses` must be an object.');
  const rt = isEnvelope(state) ? d.roundTrips.open(state) : undefined;
  if (!rt || rt.subject !== ex.principal.subject || rt.server !== ex.server || rt.roundTrip !== (ex.roundTrip ?? '')) {
    return refused(given === undefined
      ? 'The requestState was not issued by the gateway to you for this call; the call was not forwarded.'
      : 'An input response answers no input request the gateway relayed to you for this call; the call was not forwarded.');
  }
  if (d.clock.now() > rt.expires) {
    const late = given === undefined ? 'The requestState' : 'An input response';
    return { refusal: { code: 'content_blocked', message: `${late} came after the gateway stopped waiting for it; the call was not forwarded.` } };
  }
  const matched: MatchedResponse[] = [];
  for (const [key, value] of Object.entries((given ?? {}) as Record<string, unknown>)) {
    const method = Object.hasOwn(rt.requests, key) ? rt.requests[key] : undefined;
    if (method === undefined) return refused('An input response answers no input request the gateway relayed to you for this call; the call was not forwarded.');
    if (GOVERNED_SERVER_REQUESTS.has(method) && serverRequestDecision(d, ex, method)?.effect !== 'allow') {
      return refused(`The gateway does not allow ${method} from MCP servers; the call was not forwarded.`);
    }
    matched.push({ key, method, value });
  }
  return { matched, restore: { state: rt.state } };
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
 * answers (`roots/list`) pass unread, as they do in a session. A refusal the call already has stays. The server's
 * own `requestState` replaces the gateway's envelope (or the field goes, when the server sent none).
 */
export function withInputResponses(v: McpVersion | 'open', verdict: CallVerdict, msg: Inbound, round: OpenedRoundTrip, tokens: McpTokens | undefined): CallVerdict & { answers: AnswerOutcome[] } {
  if (round.matched.length === 0 && !round.restore) return { ...verdict, answers: [] };
  const base = verdict.rewritten ?? msg.raw;
  const { requestState: envelope, ...params } = base.params as Record<string, unknown>;
  const responses = { ...(params.inputResponses as Record<string, unknown> | undefined) };
  const answers: AnswerOutcome[] = [];
  let blocked: string | undefined;
  for (const m of round.matched) {
    if (v === 'open' || !GOVERNED_SERVER_REQUESTS.has(m.method)) {
      answers.push({ key: m.key, method: m.method, findings: [] });
      continue;
    }
    const scanned = scanAnswer(v.content, m.value, `params.inputResponses.${m.key}`, tokens);
    answers.push({ key: m.key, method: m.method, findings: scanned.findings });
    if (scanned.blocked) blocked ??= scanned.blocked.publicMessage;
    if (scanned.changed) responses[m.key] = scanned.value;
  }
  const findings = [...verdict.findings, ...answers.flatMap((a) => a.findings)];
  const state = round.restore ? round.restore.state : envelope;
  const rewritten = {
    ...base,
    params: { ...params, ...(round.matched.length > 0 ? { inputResponses: responses } : {}), ...(state === null || state === undefined ? {} : { requestState: state }) },
  };
  const refusal = verdict.refusal ?? (blocked === undefined ? undefined : { code: 'content_blocked' as const, message: blocked });
  return { ...verdict, findings, rewritten, refusal, answers };
}

/** Each answer as an event of the call that carried it to the server (only for a call that went out). */
export function recordAnswers(rec: ExchangeRecording, t: number, answers: AnswerOutcome[]): void {
  for (const a of answers) rec.event(t, 'portcullis.server_request_answer', JSON.stringify({ method: a.method, key: a.key.slice(0, 128), outcome: 'forwarded', findings: a.findings }));
}
