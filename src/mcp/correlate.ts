import type { KeyObject } from 'node:crypto';
import type { Keyring } from '../crypto/keyring.ts';
import type { Store } from '../store/ports.ts';
import { toolCallIndexFor } from '../store/tool-call-index.ts';
import type { ToolCallIndex } from '../audit/tool-call-index.ts';
import { argumentsDigest, namesTool } from '../audit/tool-calls.ts';

/**
 * Links an MCP `tools/call` to the model answer that asked for it (docs/mcp.md#correlation): the newest tool call a
 * model answered *the same identity* with, naming this server's tool (`namesTool`), with the same canonical
 * arguments, within `windowMs`. The link is evidence, not a control: a lookup that fails leaves the call
 * unlinked and never refuses it.
 */
export interface McpCorrelation {
  index: ToolCallIndex;
  /** The recorder's digest key: both sides must digest arguments alike. */
  key: KeyObject;
  /** `mcp.correlation_window_ms`: how old a model's tool call may be to be linked (an agent may ask its user first). */
  windowMs: number;
}

/** Recorded on the MCP exchange, in its decision (chained with it) and its SIEM event. */
export interface CorrelationLink {
  exchange_id: string;
  tool_call_id: string;
}

/** Candidates read per lookup: the same identity repeating the same arguments to other tools in the window. */
const CANDIDATES = 20;

export async function findModelToolCall(
  c: McpCorrelation, q: { subject: string; server: string; tool: string; args: unknown; now: number },
): Promise<CorrelationLink | undefined> {
  const argsDigest = argumentsDigest(c.key, q.args ?? {});
  if (!argsDigest) return undefined;
  const found = await c.index.find({ subject: q.subject, argsDigest, since: q.now - c.windowMs, limit: CANDIDATES });
  const hit = found.find((n) => namesTool(n.name, q.server, q.tool));
  return hit ? { exchange_id: hit.exchangeId, tool_call_id: hit.toolCallId } : undefined;
}

/** The store's index and the digest key (the MCP module's derived key), for the recorder and the MCP front alike. */
export function mcpCorrelationFor(store: Store, keyring: Keyring, windowMs: number): McpCorrelation | undefined {
  const index = toolCallIndexFor(store);
  return index ? { index, key: keyring.key('mcp'), windowMs } : undefined;
}
