import type { Finding } from '../core/findings.ts';
import { ConversationTokenizer } from '../detect/tokenize/tokenizer.ts';
import { TokenConflictError, type TokenVault } from '../detect/tokenize/vault.ts';
import { isRawJson } from '../core/json-exact.ts';

/** Placeholders minted in MCP answers read `⟦MCP_EMAIL_ADDRESS_1⟧`: apart from any a model conversation mints. */
const RESPONSE_PREFIX = 'MCP_';
const MAX_DEPTH = 64;
const SAVE_ATTEMPTS = 3;

/**
 * Who may restore an MCP placeholder (docs/mcp.md#tokenization, `mcp.tokenize_scope`). `caller`: the same identity
 * in any session of any server of the same token domain (`mcp.servers[].token_domain`, by default the server
 * itself), within the vault's TTL. `session`: the same identity, server and MCP session only.
 */
export interface TokenScope {
  scope: 'caller' | 'session';
  domainOf(server: string): string;
}

/** The vault conversation of one call's placeholders under `scope` (a call without a session has its own under `session`). */
export function conversationOf(scope: TokenScope | undefined, c: { subject: string; server: string; clientSession: string | undefined; exchangeId: string }): string {
  if (scope?.scope === 'caller') return `${c.subject}#mcp-domain:${scope.domainOf(c.server)}`;
  return `${c.subject}#mcp:${c.server}:${c.clientSession ?? `exchange:${c.exchangeId}`}`;
}

/**
 * The vault conversation of one call: a sessionless (2026-07-28) caller has no MCP session, so under `session` scope
 * its placeholders live per caller and server, apart from the identity's session-based conversations.
 */
export function exchangeConversation(scope: TokenScope | undefined, ex: { principal: { subject: string }; server: string; clientSession: string | undefined; modern?: unknown; id: string }): string {
  return conversationOf(scope, { subject: ex.principal.subject, server: ex.server, clientSession: ex.modern ? 'sessionless' : ex.clientSession, exchangeId: ex.id });
}

/**
 * The reversible tokenization of one MCP conversation (docs/mcp.md#tokenization): the caller, the server and the
 * MCP session. Request-side `tokenize` hides argument values from the server and restores them in the answer;
 * response-side `tokenize` hides result values from the agent (and so from its model) and restores them when the
 * agent sends the placeholder back in a later call. Mappings live in the same sealed vault as model traffic.
 */
export class McpTokens {
  readonly #vault: TokenVault;
  readonly #conversation: string;
  #tokenizer: ConversationTokenizer;

  private constructor(vault: TokenVault, conversation: string, tokenizer: ConversationTokenizer) {
    this.#vault = vault;
    this.#conversation = conversation;
    this.#tokenizer = tokenizer;
  }

  static async load(vault: TokenVault, conversation: string): Promise<McpTokens> {
    return new McpTokens(vault, conversation, await ConversationTokenizer.load(vault, conversation, { responsePrefix: RESPONSE_PREFIX }));
  }

  /**
   * `decide` on the conversation's placeholders, the ones it minted (arguments hidden from the server) stored before
   * the call can go out. Two calls minting the same placeholder at once (likelier under `caller` scope, where every
   * session of the identity shares the conversation) conflict: the conversation is reloaded and `decide` runs again.
   */
  static async decide<T>(vault: TokenVault, conversation: string, decide: (tokens: McpTokens) => T): Promise<{ tokens: McpTokens; result: T }> {
    for (let attempt = 1; ; attempt++) {
      const tokens = await McpTokens.load(vault, conversation);
      const result = decide(tokens);
      try {
        await tokens.save();
        return { tokens, result };
      } catch (err) {
        if (!(err instanceof TokenConflictError) || attempt >= SAVE_ATTEMPTS) throw err;
      }
    }
  }

  get tokenizer(): ConversationTokenizer {
    return this.#tokenizer;
  }

  /**
   * Arguments with the placeholders this conversation minted in earlier answers replaced by their values (at any
   * depth, keys and JSON inside strings too), and one finding per restored placeholder (type and place, never the
   * value). A placeholder of another conversation or caller is unknown here and stays text.
   */
  restore<T>(args: T, root: string): { value: T; findings: (Finding & Record<string, unknown>)[] } {
    const t = this.#tokenizer;
    const findings: (Finding & Record<string, unknown>)[] = [];
    const text = (s: string, path: string, json: boolean): string => {
      const out = t.detokenize(s, json, 'response');
      if (out !== s) for (const type of restoredTypes(t, s)) findings.push({ type, start: 0, end: 0, score: 1, detector: 'tokenizer', rule: 'tokenize', action: 'restore', path, direction: 'request' });
      return out;
    };
    const walk = (v: unknown, path: string, depth: number): unknown => {
      if (typeof v === 'string') return text(v, path, jsonLike(v));
      // A number kept as the sender's exact text (src/core/json-exact.ts) is a leaf: written back as it came.
      if (depth > MAX_DEPTH || v === null || typeof v !== 'object' || isRawJson(v)) return v;
      if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`, depth + 1));
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[text(k, `${path}{key}`, false)] = walk(x, `${path}.${k}`, depth + 1);
      return out;
    };
    if (t.size === 0) return { value: args, findings };
    const value = walk(args, root, 0) as T;
    return { value: findings.length > 0 ? value : args, findings };
  }

  /** Stores the placeholders minted since the last save (before the call they hide values of goes out). */
  async save(): Promise<void> {
    await this.#tokenizer.save(this.#vault, this.#conversation);
  }

  /**
   * Stores the placeholders an answer minted, before the answer goes to the agent. Two calls of one session
   * minting the same placeholder for different values conflict: the conversation is reloaded and `redo` runs again
   * on it (at most three times).
   */
  async saveAnswer<T>(first: T, redo: () => T): Promise<T> {
    let out = first;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#tokenizer.save(this.#vault, this.#conversation);
        return out;
      } catch (err) {
        if (!(err instanceof TokenConflictError) || attempt >= SAVE_ATTEMPTS) throw err;
        this.#tokenizer = await ConversationTokenizer.load(this.#vault, this.#conversation, { responsePrefix: RESPONSE_PREFIX });
        out = redo();
      }
    }
  }
}

/** A string that is JSON (an object or array) carries restored values JSON-escaped, so it stays valid JSON. */
function jsonLike(s: string): boolean {
  const t = s.trimStart();
  if (!t.startsWith('{') && !t.startsWith('[')) return false;
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

const PLACEHOLDER = /\u27e6[A-Z][A-Z0-9_]*_[1-9][0-9]{0,8}\u27e7/g;

/** The types of the response placeholders in `s` this conversation knows (for the record). */
function restoredTypes(t: ConversationTokenizer, s: string): string[] {
  const out: string[] = [];
  for (const m of s.matchAll(PLACEHOLDER)) {
    const type = t.typeOf(m[0], 'response');
    if (type !== undefined) out.push(type);
  }
  return out;
}
