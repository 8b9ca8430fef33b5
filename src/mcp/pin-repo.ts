/**
 * Persistence of pinned MCP tool catalogues (src/store/{sqlite,postgres}/mcp.ts implement it; one conformance
 * test runs on both). Per server: at most one `pinned` catalogue (what calls are checked against) and one
 * `pending` catalogue (what the server now offers, waiting for an approver).
 */
export interface PinnedTool {
  /** SHA-256 of the RFC 8785 canonical JSON of the tool's whole definition. */
  hash: string;
}

export interface CatalogueFinding {
  tool: string;
  /** `MCP_INJECTION_MARKER` and the marker's id. */
  type: string;
  marker: string;
}

export interface McpCatalogue {
  server: string;
  /** Tool name -> its definition hash. */
  tools: Record<string, PinnedTool>;
  /** SHA-256 over the sorted (name, hash) pairs: names the whole set (an accept is bound to it). */
  setHash: string;
  at: number;
  by: string;
  /** Pending catalogues only: the definitions to review, and what the injection scan found in them. */
  definitions?: Record<string, unknown>;
  findings?: CatalogueFinding[];
}

export interface McpPinRepo {
  get(server: string): Promise<{ pinned: McpCatalogue | undefined; pending: McpCatalogue | undefined }>;
  /** Pins `c` unless the server already has a pinned catalogue; returns the one in force. */
  pinIfAbsent(c: McpCatalogue): Promise<McpCatalogue>;
  /** Records what the server now offers (replaces an earlier pending catalogue). */
  propose(c: McpCatalogue): Promise<void>;
  /** Pins the pending catalogue if its set hash is `setHash` (what the approver reviewed); undefined otherwise. */
  accept(server: string, setHash: string, at: number, by: string): Promise<McpCatalogue | undefined>;
  list(): Promise<{ server: string; state: 'pinned' | 'pending'; setHash: string; at: number; by: string }[]>;
}
