import type { ApprovalGate } from '../approvals/gate.ts';
import { GatewayError } from '../core/errors.ts';
import type { McpVersion } from '../governance/mcp-version.ts';
import type { DecisionRecord, ExchangeContext } from '../proxy/context.ts';
import type { ApprovalRequirement } from '../approvals/rule.ts';
import type { Endpoint } from '../proxy/endpoints.ts';
import type { CallVerdict } from './decide.ts';
import type { JsonRpcId } from './jsonrpc.ts';
import type { Exchange } from './relay.ts';
import { formatSse } from './sse.ts';

export type HoldOutcome = { approved: true } | { approved: false; code: string; message: string };

/**
 * Just-in-time approval of a tool call (docs/mcp.md#approvals): the existing approvals gate (state in the store,
 * approver groups, no self-approval, digest bound to the exact call, webhooks, CLI/API/console) decides, while the
 * agent's request stays open as an SSE stream. Progress notifications (`notifications/progress`, when the client
 * sent a `progressToken`) or SSE comments keep the session and the client's timeout alive. The approver reviews
 * the call as it would go upstream (masked arguments), never the client's unmasked copy.
 */
export async function holdForApproval(o: {
  gate: ApprovalGate | undefined; ex: Exchange; version: McpVersion | 'open'; verdict: CallVerdict; id: JsonRpcId;
  tool: string; progressToken: unknown; now: number;
  /** An alert rule's `respond: require_approval` (docs/alerts.md#automatic-response-suspension-or-approval): approved first, on a copy of the decision. */
  alertRequirement?: ApprovalRequirement | undefined;
  /** The policy decision is an enforced `require_approval`: its rule's approval is needed too. */
  policyHeld?: boolean;
}): Promise<HoldOutcome> {
  const { ex, verdict } = o;
  const policyHeld = o.policyHeld ?? true;
  const ruleId = o.version === 'open' ? undefined : verdict.decision.matchedRuleIds.find((r) => o.version !== 'open' && o.version.approvals.has(r));
  const requirement = ruleId === undefined || o.version === 'open' ? undefined : o.version.approvals.get(ruleId);
  if (!o.gate || (policyHeld && (requirement === undefined || typeof requirement === 'string'))) {
    return { approved: false, code: 'approval_required', message: `Rule "${ruleId ?? '?'}" requires approval but its approval options are invalid; the call was refused.` };
  }
  ex.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
  ex.res.flushHeaders();
  ex.streamOpen = true;
  let progress = 0;
  const keepAlive = (): void => {
    if (ex.res.writableEnded) return;
    if (typeof o.progressToken === 'string' || typeof o.progressToken === 'number') {
      progress++;
      ex.res.write(formatSse({ data: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: o.progressToken, progress, message: `waiting for approval (rule ${ruleId ?? o.alertRequirement?.ruleId})` } }) }));
    } else ex.res.write(': waiting for approval\n\n');
  };
  keepAlive();
  const abort = new AbortController();
  ex.res.once('close', () => abort.abort());
  try {
    if (o.alertRequirement) {
      const decision: DecisionRecord = { ...verdict.decision, approval: o.alertRequirement };
      try {
        await o.gate.check(approvalContext(ex, o.tool, verdict, o.now), decision, { keepAlive, signal: abort.signal });
      } finally {
        if (typeof decision.approvalId === 'string') {
          verdict.decision.alertApproval = { id: decision.approvalId, outcome: typeof decision.approvalOutcome === 'string' ? decision.approvalOutcome : null, rule: o.alertRequirement.ruleId };
        }
      }
    }
    if (policyHeld && requirement !== undefined && typeof requirement !== 'string') {
      verdict.decision.approval = requirement;
      await o.gate.check(approvalContext(ex, o.tool, verdict, o.now), verdict.decision, { keepAlive, signal: abort.signal });
    }
    return { approved: true };
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    return { approved: false, code: err.code, message: err.publicMessage };
  }
}

/**
 * The gate speaks in exchanges; an MCP call is one (`mcp.tools_call`). The body the approver reviews and the
 * digest binds is `{server, tool, arguments}` with the arguments as they would go upstream.
 */
function approvalContext(ex: Exchange, tool: string, verdict: CallVerdict, now: number): ExchangeContext {
  const endpoint = { id: 'mcp.tools_call', family: 'openai', method: 'POST', path: `/mcp/${ex.server}`, upstreamPath: '', streamable: false, routed: false } as unknown as Endpoint;
  return {
    id: ex.id, startedAt: now, endpoint, principal: ex.principal, headers: ex.req.headers, clientIp: undefined, userAgent: ex.req.headers['user-agent'],
    body: { server: ex.server, tool, arguments: verdict.arguments ?? {} }, model: tool, stream: true,
    route: { pattern: ex.server, provider: `mcp:${ex.server}`, upstreamModel: tool },
    upstreamBody: undefined, decision: verdict.decision, findings: verdict.findings, responseFindings: [], cleanups: [],
  };
}
