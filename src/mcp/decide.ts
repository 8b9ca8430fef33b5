import type { Finding } from '../core/findings.ts';
import type { Principal } from '../core/principal.ts';
import type { McpVersion } from '../governance/mcp-version.ts';
import type { DecisionRecord } from '../proxy/context.ts';
import { scanJson } from './content.ts';
import { mcpTarget } from '../policy/mcp.ts';
import type { McpMessage, RefusalCode } from './jsonrpc.ts';
import { requestContentOf } from './request-content.ts';
import type { McpTokens } from './tokens.ts';

type Request = Extract<McpMessage, { kind: 'request' | 'notification' }>;

export interface CallVerdict {
  decision: DecisionRecord;
  findings: (Finding & Record<string, unknown>)[];
  /** The message to send upstream when the gateway changed it (masked arguments); undefined: unchanged. */
  rewritten: Record<string, unknown> | undefined;
  /** Set for an enforced `require_approval` tool call: the caller holds it for a reviewer (hold.ts). */
  arguments?: Record<string, unknown>;
  refusal?: { code: RefusalCode; message: string } | undefined;
}

export interface DecideInput {
  id: string;
  principal: Principal;
  server: string;
  message: Request;
  /** `tools/call`: the checked definition hash of the tool (pinning ran first). */
  toolHash: string | null;
  clientIp: string | undefined;
  userAgent: string | undefined;
  now: number;
  /**
   * The session's tokenization when a content rule tokenizes: placeholders earlier results gave the agent are
   * restored first (the rules and the server see the real value), then arguments get placeholders of their own.
   */
  tokens?: McpTokens | undefined;
}

/**
 * One JSON-RPC request or notification under the active policy version: detectors and actions on a tool call's
 * arguments first (so rules can see the findings), then the `mcp:` rules. Pure apart from the clock value given.
 * Observe mode records what would have been refused and lets it through; content blocks are always enforced.
 */
export function decideCall(v: McpVersion | 'open', d: DecideInput): CallVerdict {
  const decisionId = `dec_${d.id.slice(3)}`;
  if (v === 'open') {
    return { decision: { decisionId, effect: 'allow', enforced: true, matchedRuleIds: [], policyVersion: null, reasons: [{ code: 'no_policy_configured' }] }, findings: [], rewritten: undefined };
  }
  const m = d.message;
  const isCall = m.method === 'tools/call';
  const name = isCall && typeof m.params?.name === 'string' ? m.params.name : undefined;
  // Placeholders earlier results gave the agent are restored first, so the detectors and rules judge what the
  // server will get; then the request's own values are scanned (and may get placeholders of their own).
  const content = requestContentOf(m.method, m.params);
  const restored = content && d.tokens ? d.tokens.restore(content.value, content.path) : undefined;
  const sent = restored?.value ?? content?.value;
  const scanned = content ? scanJson(v.content, 'request', sent, content.path, d.tokens?.tokenizer) : undefined;
  const params = content && content.value !== sent ? { ...m.params, [content.key]: sent } : m.params;
  const args = isCall ? (sent as Record<string, unknown>) : {};
  const findings = [...(restored?.findings ?? []), ...(scanned?.findings ?? [])];
  const p = d.principal;
  const pd = v.engine.decide({
    principal: { subject: p.subject, kind: p.kind, groups: p.groups, claims: p.claims },
    server: d.server, method: m.method,
    tool: name === undefined ? undefined : { name, arguments: args, hash: d.toolHash },
    target: mcpTarget(m.method, params),
    context: { now: d.now, clientIp: d.clientIp, userAgent: d.userAgent },
    findings,
  });
  const enforced = v.mode === 'enforce';
  const decision: DecisionRecord = {
    decisionId, effect: pd.effect, enforced, matchedRuleIds: pd.matchedRuleIds, policyVersion: pd.policyVersion,
    reasons: enforced || pd.effect === 'allow' ? pd.reasons : [...pd.reasons, { code: 'observe_mode' }],
    // The definition hash the rules saw: `policy simulate` replays `request.tool_hash` conditions with it.
    ...(name !== undefined ? { toolHash: d.toolHash } : {}),
  };
  const rewritten = content && scanned && (scanned.changed || content.value !== sent) ? { ...m.raw, params: { ...m.params, [content.key]: scanned.value } } : undefined;
  const out: CallVerdict = { decision, findings, rewritten, ...(isCall ? { arguments: scanned?.value as Record<string, unknown> } : {}) };
  if (scanned?.blocked) out.refusal = { code: 'content_blocked', message: scanned.blocked.publicMessage };
  else if (enforced && pd.effect === 'deny') {
    const target = mcpTarget(m.method, params);
    out.refusal = {
      code: 'denied_by_policy',
      message: name !== undefined ? `Policy does not allow the tool "${name}" on MCP server "${d.server}".`
        : target?.kind === 'prompts' ? `Policy does not allow the prompt "${target.name.slice(0, 200)}" on MCP server "${d.server}".`
          : target ? `Policy does not allow ${m.method} of this resource on MCP server "${d.server}".`
            : `Policy does not allow ${m.method} on MCP server "${d.server}".`,
    };
  } else if (enforced && pd.effect === 'require_approval' && !isCall) {
    // Only a tool call can be held for a reviewer; any other method under an approval rule is refused.
    out.refusal = { code: 'approval_required', message: `${m.method} on MCP server "${d.server}" needs an approval; only tool calls can be approved.` };
  }
  return out;
}

/** The resource URI or prompt name a request names (src/policy/mcp.ts `mcpTarget`). */
export function targetOf(m: Request): { kind: 'resources' | 'prompts'; name: string } | undefined {
  return mcpTarget(m.method, m.params);
}
