import type { Finding } from '../core/findings.ts';
import type { Principal } from '../core/principal.ts';
import type { McpVersion } from '../governance/mcp-version.ts';
import type { CatalogueGuard } from './catalogue.ts';
import { scanJson } from './content.ts';
import { refusal, type JsonRpcId } from './jsonrpc.ts';
import type { McpTokens } from './tokens.ts';

export interface AnswerContext {
  server: string;
  method: string;
  id: JsonRpcId;
  principal: Principal;
  version: McpVersion | 'open';
  catalogue: CatalogueGuard;
  /** The session's tokenization: restores the placeholders the call's arguments got, mints the result's own. */
  tokens?: McpTokens | undefined;
}

export interface TransformedAnswer {
  message: Record<string, unknown>;
  findings: (Finding & Record<string, unknown>)[];
  /** Tools hidden from this caller (policy or quarantine); names only. */
  hidden: string[];
}

/** Methods whose results carry content the detectors read on the way back (tool results, resources, prompts). */
const SCANNED = new Set(['tools/call', 'resources/read', 'prompts/get', 'completion/complete']);

/**
 * The server's answer to one request, as the caller may see it: `tools/list` without the tools the policy denies
 * or the pins quarantine (so a denied tool never leaks through the list), content results through the detectors.
 * A blocked result becomes a JSON-RPC refusal: nothing of it reaches the agent.
 */
export async function transformAnswer(a: AnswerContext, message: Record<string, unknown>): Promise<TransformedAnswer> {
  const result = message.result;
  if (typeof result !== 'object' || result === null) return { message, findings: [], hidden: [] };
  const r = result as Record<string, unknown>;
  if (a.method === 'tools/list' && Array.isArray(r.tools)) {
    const tools = r.tools.filter((t): t is Record<string, unknown> => typeof t === 'object' && t !== null && typeof (t as { name?: unknown }).name === 'string');
    const review = await a.catalogue.review(a.server, tools, a.principal.subject);
    const p = a.principal;
    const visible = tools.filter((t) => {
      const name = t.name as string;
      if (!review.allowed.has(name)) return false;
      return a.version === 'open' || a.version.engine.visible({ subject: p.subject, kind: p.kind, groups: p.groups, claims: p.claims }, a.server, name);
    });
    const hidden = tools.filter((t) => !visible.includes(t)).map((t) => t.name as string);
    const findings = review.findings.map((f) => ({ type: f.type, start: 0, end: 0, score: 1, detector: 'mcp-catalogue', rule: f.marker, action: 'flag', path: `result.tools[${f.tool}]`, direction: 'response' as const }));
    return { message: hidden.length > 0 ? { ...message, result: { ...r, tools: visible } } : message, findings, hidden };
  }
  if (a.version !== 'open' && ((a.method === 'resources/list' && Array.isArray(r.resources)) || (a.method === 'prompts/list' && Array.isArray(r.prompts)))) {
    // Resources and prompts the policy denies are not listed either (resources: / prompts: globs).
    const kind = a.method === 'resources/list' ? 'resources' : 'prompts';
    const items = r[kind] as unknown[];
    const p = a.principal;
    const engine = a.version.engine;
    const keep = items.filter((x) => {
      const key = typeof x === 'object' && x !== null ? (x as Record<string, unknown>)[kind === 'resources' ? 'uri' : 'name'] : undefined;
      return typeof key === 'string' && engine.visibleTarget({ subject: p.subject, kind: p.kind, groups: p.groups, claims: p.claims }, a.server, kind, key);
    });
    if (keep.length === items.length) return { message, findings: [], hidden: [] };
    return { message: { ...message, result: { ...r, [kind]: keep } }, findings: [], hidden: [] };
  }
  if (!SCANNED.has(a.method) || a.version === 'open') return { message, findings: [], hidden: [] };
  const content = a.version.content;
  const scan = (): ReturnType<typeof scanJson> => scanJson(content, 'response', r, 'result', a.tokens?.tokenizer);
  let scanned = scan();
  if (a.tokens && a.tokens.tokenizer.newEntries.length > 0 && !scanned.blocked) {
    // Placeholders the agent gets must be restorable when it sends them back: stored before the answer goes out.
    try {
      scanned = await a.tokens.saveAnswer(scanned, scan);
    } catch {
      return { message: refusal(a.id, 'policy_unavailable', 'The tokenization vault could not be written; the result was withheld.'), findings: scanned.findings, hidden: [] };
    }
  }
  if (scanned.blocked) {
    return { message: refusal(a.id, 'content_blocked', scanned.blocked.publicMessage), findings: scanned.findings, hidden: [] };
  }
  return { message: scanned.changed ? { ...message, result: scanned.value } : message, findings: scanned.findings, hidden: [] };
}
