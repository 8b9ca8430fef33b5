/**
 * The store-backed index of tool calls models answered with (docs/mcp.md#correlation), so that the MCP call an
 * agent then makes can be linked to the model exchange — also when the two land on different replicas.
 * src/store/{sqlite,postgres}/tool-calls.ts implement it; one conformance test runs on both.
 */
export interface NotedToolCall {
  /** The verified identity that received the answer (`ExchangeStart.subject`). */
  subject: string;
  /** Keyed digest of the canonical arguments (src/audit/tool-calls.ts `argumentsDigest`). */
  argsDigest: string;
  /** When the call passed through the gateway (epoch ms). */
  at: number;
  /** The model exchange. */
  exchangeId: string;
  /** The id the model gave the call. */
  toolCallId: string;
  /** The tool name as the model called it. */
  name: string;
}

export interface ToolCallIndex {
  /** Notes calls; in the same write, forgets every call noted before `forgetBefore` (the index stays bounded). */
  note(calls: NotedToolCall[], forgetBefore: number): Promise<void>;
  /** Calls of `subject` with these arguments noted at or after `since`, newest first (at most `limit`). */
  find(q: { subject: string; argsDigest: string; since: number; limit: number }): Promise<NotedToolCall[]>;
}
