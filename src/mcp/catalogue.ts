import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.ts';
import type { CatalogueFinding, McpCatalogue, McpPinRepo } from './pin-repo.ts';

/**
 * Tool-definition pinning against rug-pulls and tool poisoning. The first `tools/list` a server answers pins the
 * hash of every tool's whole definition (name, title, description, input and output schema, annotations, _meta:
 * RFC 8785 canonical JSON, so key order or whitespace never counts as a change) and the set. Afterwards a tool
 * whose definition differs from its pin, or that is new, is quarantined — hidden from `tools/list` and refused on
 * `tools/call` — until an approver accepts the catalogue the server now offers (`/admin/v1/mcp/...`).
 */
export function toolHash(tool: unknown): string {
  return createHash('sha256').update(canonicalJson(tool)).digest('hex');
}

export function setHashOf(tools: Record<string, { hash: string }>): string {
  const pairs = Object.keys(tools).sort().map((n) => [n, tools[n]!.hash]);
  return createHash('sha256').update(canonicalJson(pairs)).digest('hex');
}

/**
 * Instruction-injection markers in tool descriptions (tool poisoning: text meant for the model, not the user).
 * Findings are recorded with the catalogue and the tools/list exchange; they do not by themselves quarantine.
 */
const MARKERS: readonly { id: string; re: RegExp }[] = [
  { id: 'ignore_instructions', re: /\b(ignore|disregard|forget)\s+(all\s+|any\s+)?(the\s+)?(previous|prior|above|earlier|other)\s+(instructions|prompts|rules)/i },
  { id: 'instruction_tag', re: /<\s*\/?\s*(important|system|instructions?|secret|hidden)\s*>/i },
  { id: 'conceal_from_user', re: /\b(do\s+not|don't|never)\s+(tell|inform|mention|show|reveal)\b[^.]{0,60}\buser\b/i },
  { id: 'system_prompt', re: /\b(system\s+prompt|developer\s+message)\b/i },
  { id: 'sensitive_path', re: /(~\/\.ssh|id_rsa|\.aws\/credentials|\.env\b|\/etc\/passwd|mcp\.json)/i },
  { id: 'other_tool_override', re: /\b(instead\s+of|before\s+(using|calling))\s+(any\s+)?(other|the)\s+tools?\b/i },
  { id: 'invisible_characters', re: /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u{E0000}-\u{E007F}]/u },
];

export function injectionFindings(name: string, tool: unknown): CatalogueFinding[] {
  const texts: string[] = [];
  collectText(tool, texts, 0);
  const joined = texts.join('\n');
  return MARKERS.filter((m) => m.re.test(joined)).map((m) => ({ tool: name, type: 'MCP_INJECTION_MARKER', marker: m.id }));
}

function collectText(v: unknown, out: string[], depth: number): void {
  if (depth > 12) return;
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) collectText(x, out, depth + 1);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) collectText(x, out, depth + 1);
}

export interface ReviewResult {
  /** Tool names that may be shown and called. */
  allowed: Set<string>;
  quarantined: { name: string; why: 'changed' | 'new' }[];
  findings: CatalogueFinding[];
  /** Set when this list pinned the server's first catalogue. */
  pinned: boolean;
}

export type CallCheck = { ok: true; hash: string } | { ok: false; why: 'quarantined' | 'unknown' };

/**
 * Pins in the store, the definitions last seen per server in memory. A call is checked against the definition
 * the server last listed (what the agent's model was shown), which must equal its pin. `notifications/tools/list_changed`
 * marks the server stale: the next call first re-lists the tools (the caller does that upstream) and re-checks.
 */
export class CatalogueGuard {
  readonly #repo: McpPinRepo;
  readonly #now: () => number;
  readonly #cacheMs: number;
  readonly #seen = new Map<string, Map<string, string>>();
  /** Each tool's last listed `inputSchema`: 2026-07-28 `Mcp-Param-*` headers are derived from it (modern.ts). */
  readonly #schemas = new Map<string, Map<string, unknown>>();
  readonly #stale = new Set<string>();
  readonly #cache = new Map<string, { at: number; pinned: McpCatalogue | undefined }>();

  constructor(o: { repo: McpPinRepo; now: () => number; cacheMs: number }) {
    this.#repo = o.repo;
    this.#now = o.now;
    this.#cacheMs = o.cacheMs;
  }

  /** One page of a `tools/list` answer: pin (first time) or compare, and remember what the server offers. */
  async review(server: string, tools: readonly Record<string, unknown>[], by: string): Promise<ReviewResult> {
    const offered: Record<string, { hash: string }> = {};
    const definitions: Record<string, unknown> = {};
    const findings: CatalogueFinding[] = [];
    for (const t of tools) {
      if (typeof t.name !== 'string') continue;
      offered[t.name] = { hash: toolHash(t) };
      definitions[t.name] = t;
      findings.push(...injectionFindings(t.name, t));
    }
    const seen = this.#seen.get(server) ?? new Map<string, string>();
    for (const [n, { hash }] of Object.entries(offered)) seen.set(n, hash);
    this.#seen.set(server, seen);
    const schemas = this.#schemas.get(server) ?? new Map<string, unknown>();
    for (const [n, t] of Object.entries(definitions)) schemas.set(n, (t as { inputSchema?: unknown }).inputSchema);
    this.#schemas.set(server, schemas);
    this.#stale.delete(server);
    const catalogue: McpCatalogue = { server, tools: offered, setHash: setHashOf(offered), at: this.#now(), by };
    const stored = await this.#repo.get(server);
    const pending = stored.pending;
    let pinned = stored.pinned;
    let first = false;
    if (!pinned) {
      pinned = await this.#repo.pinIfAbsent(catalogue);
      first = pinned.setHash === catalogue.setHash;
    }
    this.#cache.set(server, { at: this.#now(), pinned });
    const allowed = new Set<string>();
    const quarantined: ReviewResult['quarantined'] = [];
    for (const [n, { hash }] of Object.entries(offered)) {
      const pin = pinned.tools[n];
      if (pin?.hash === hash) allowed.add(n);
      else quarantined.push({ name: n, why: pin ? 'changed' : 'new' });
    }
    const removed = Object.keys(pinned.tools).some((n) => !(n in offered));
    if ((quarantined.length > 0 || removed) && pending?.setHash !== catalogue.setHash) {
      await this.#repo.propose({ ...catalogue, definitions, findings });
    }
    return { allowed, quarantined, findings, pinned: first };
  }

  /** The `inputSchema` the server last listed for `tool` (undefined: not listed on this replica). */
  inputSchema(server: string, tool: string): unknown {
    return this.#schemas.get(server)?.get(tool);
  }

  markStale(server: string): void {
    this.#stale.add(server);
  }

  async checkCall(server: string, tool: string): Promise<CallCheck> {
    const hash = this.#stale.has(server) ? undefined : this.#seen.get(server)?.get(tool);
    if (hash === undefined) return { ok: false, why: 'unknown' };
    const pinned = await this.#pinned(server);
    return pinned?.tools[tool]?.hash === hash ? { ok: true, hash } : { ok: false, why: 'quarantined' };
  }

  /** After an accept on this replica: the next check reads the store. */
  invalidate(server: string): void {
    this.#cache.delete(server);
  }

  async #pinned(server: string): Promise<McpCatalogue | undefined> {
    const c = this.#cache.get(server);
    if (c && this.#now() - c.at <= this.#cacheMs) return c.pinned;
    const { pinned } = await this.#repo.get(server);
    this.#cache.set(server, { at: this.#now(), pinned });
    return pinned;
  }
}
