/** Pure: read by the exchange views and the SIEM mapping (src/events), so it imports nothing. */

/**
 * The model answer an MCP tool call carried out (docs/mcp.md#correlation): the model exchange and the id the model
 * gave the call, recorded in the MCP exchange's decision. null when the call was not linked (or is not an MCP call).
 */
export function correlationOf(decision: Record<string, unknown> | null | undefined): { exchange_id: string; tool_call_id: string } | null {
  const c = decision?.correlation;
  if (typeof c !== 'object' || c === null) return null;
  const { exchange_id: exchangeId, tool_call_id: toolCallId } = c as Record<string, unknown>;
  return typeof exchangeId === 'string' && typeof toolCallId === 'string' ? { exchange_id: exchangeId, tool_call_id: toolCallId } : null;
}
