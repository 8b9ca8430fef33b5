/**
 * JSON-RPC 2.0 messages as MCP uses them (https://www.jsonrpc.org/specification, MCP "Base Protocol"): requests
 * carry an id and a method, notifications a method only, responses an id and a result or an error.
 */
export type JsonRpcId = string | number;

export type McpMessage =
  | { kind: 'request'; id: JsonRpcId; method: string; params: Record<string, unknown> | undefined; raw: Record<string, unknown> }
  | { kind: 'notification'; method: string; params: Record<string, unknown> | undefined; raw: Record<string, unknown> }
  | { kind: 'response'; id: JsonRpcId | null; raw: Record<string, unknown> };

/** Classifies one parsed message; `undefined` when it is not a JSON-RPC 2.0 message. */
export function classify(v: unknown): McpMessage | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const m = v as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return undefined;
  const params = m.params === undefined ? undefined : typeof m.params === 'object' && m.params !== null && !Array.isArray(m.params) ? (m.params as Record<string, unknown>) : null;
  if (params === null) return undefined;
  if (typeof m.method === 'string' && m.method.length > 0) {
    if (m.id === undefined) return { kind: 'notification', method: m.method, params, raw: m };
    if (!isId(m.id)) return undefined;
    return { kind: 'request', id: m.id, method: m.method, params, raw: m };
  }
  if ((m.id === null || isId(m.id)) && ('result' in m || 'error' in m)) return { kind: 'response', id: m.id, raw: m };
  return undefined;
}

function isId(v: unknown): v is JsonRpcId {
  return (typeof v === 'string' && v.length <= 256) || (typeof v === 'number' && Number.isFinite(v));
}

/**
 * Error codes. -32700..-32600 are JSON-RPC's; -32000..-32099 are "server error" codes the spec leaves to the
 * implementation: the gateway's refusals use them, with `data.portcullis` saying why in a stable code.
 */
export const RPC = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** Refused by the gateway (policy, quarantine, content, approval, authentication). */
  refused: -32001,
  /** The gateway could not reach the upstream server or record the call. */
  unavailable: -32002,
} as const;

export type RefusalCode =
  | 'denied_by_policy' | 'tool_quarantined' | 'content_blocked' | 'approval_required' | 'policy_unavailable'
  | 'unauthenticated' | 'insufficient_scope' | 'session_not_found' | 'batch_not_allowed' | 'invalid_message' | 'unsupported_protocol_version'
  | 'server_request_denied' | 'unrequested_input_response' | 'rate_limited' | 'unknown_server' | 'upstream_unavailable' | 'upstream_error' | 'recording_failed' | 'body_too_large' | 'request_timeout';

export function rpcError(id: JsonRpcId | null, code: number, message: string, data?: Record<string, unknown>): Record<string, unknown> {
  return { jsonrpc: '2.0', id, error: data ? { code, message, data } : { code, message } };
}

/** A refusal with the gateway's stable code (never a value from the request). */
export function refusal(id: JsonRpcId | null, reason: RefusalCode, message: string, extra?: Record<string, unknown>): Record<string, unknown> {
  const code = reason === 'upstream_unavailable' || reason === 'recording_failed' || reason === 'upstream_error' ? RPC.unavailable
    : reason === 'invalid_message' || reason === 'batch_not_allowed' ? RPC.invalidRequest
      // An `inputResponses` entry that answers nothing the gateway relayed is a bad parameter of the retry (SEP-2322).
      : reason === 'unrequested_input_response' ? RPC.invalidParams : RPC.refused;
  return rpcError(id, code, message, { portcullis: { code: reason, ...extra } });
}
