import type { ApprovalRequirement } from '../approvals/rule.ts';
import type { TokenVault } from '../detect/tokenize/vault.ts';
import type { McpEngine } from '../policy/mcp.ts';
import type { PolicyMode } from '../policy/versions.ts';
import { openGuard, type ExchangeGuard } from '../proxy/guard.ts';
import type { ContentPolicy } from './guard.ts';

/**
 * The MCP side of one compiled policy version: its `mcp:` rules and the same content controls (`content:`) the
 * LLM endpoints use. It travels with the version's ExchangeGuard, so one pointer swap activates both and an MCP
 * call keeps the version it started with.
 */
export interface McpVersion {
  readonly engine: McpEngine;
  readonly content: ContentPolicy | undefined;
  readonly mode: PolicyMode;
  readonly version: string;
  /** The approval terms of each `require_approval` MCP rule, or why they are invalid (then the call is refused). */
  readonly approvals: ReadonlyMap<string, ApprovalRequirement | string>;
  /** Where `tokenize` keeps a session's placeholders (the same sealed vault as the LLM endpoints). */
  readonly vault?: TokenVault | undefined;
}

const versions = new WeakMap<ExchangeGuard, McpVersion>();

export function attachMcpVersion(guard: ExchangeGuard, v: McpVersion): ExchangeGuard {
  versions.set(guard, v);
  return guard;
}

/**
 * `open`: no policy is configured (every authenticated caller may use every server, as on the LLM endpoints);
 * `unavailable`: the installed guard carries no MCP decisions (a version that cannot compile): refuse everything.
 */
export function mcpVersionOf(guard: ExchangeGuard): McpVersion | 'open' | 'unavailable' {
  if (guard === openGuard) return 'open';
  return versions.get(guard) ?? 'unavailable';
}
