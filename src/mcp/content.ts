import type { GatewayError } from '../core/errors.ts';
import type { Direction, Finding } from '../core/findings.ts';
import { TextProcessor } from '../detect/content/text-processor.ts';
import type { ContentFinding } from '../detect/content/types.ts';
import type { ConversationTokenizer } from '../detect/tokenize/tokenizer.ts';
import type { ContentPolicy } from '../governance/guard.ts';
import { isRawJson, parseJsonExact } from '../core/json-exact.ts';

export interface ScanResult {
  value: unknown;
  changed: boolean;
  findings: (Finding & Record<string, unknown>)[];
  blocked: GatewayError | undefined;
}

const MAX_DEPTH = 64;

/**
 * The policy version's detectors and actions (the same `content:` section as the LLM endpoints) over any JSON:
 * tool arguments going to the server, tool results, resource contents and prompt messages coming back. Every
 * string and every object key is scanned, at any depth, so nesting a value or moving it into a key hides nothing;
 * JSON escapes (`\u0040`) are decoded by the parser, also in JSON carried inside a string. Base64 payloads (`data`/`blob` next to a
 * `mimeType`) are binary, not text, and are not scanned. Returns a copy; the input is never mutated.
 */
export function scanJson(content: ContentPolicy | undefined, direction: Direction, value: unknown, root: string, tokenizer?: ConversationTokenizer): ScanResult {
  // `tokenize` (docs/mcp.md#tokenization): placeholders minted in arguments are restored in the answer, even when
  // no response scanner runs; values found in the answer get placeholders of their own.
  const restores = direction === 'response' && tokenizer !== undefined && tokenizer.size > 0;
  if (!content || (!content.scanners[direction] && !restores)) return { value, changed: false, findings: [], blocked: undefined };
  // Response-side `tokenize` mints placeholders the agent keeps (restored in its later calls, tokens.ts).
  const p = new TextProcessor({ scanners: content.scanners, actionFor: content.actionFor, unterminated: content.unterminated, tokenizer, tokenizeResponses: true }, direction);
  let changed = false;
  const walk = (v: unknown, path: string, depth: number): unknown => {
    if (typeof v === 'string') {
      // JSON inside a string is read as JSON: its escapes (`\u0040`) decoded, its strings and keys scanned.
      const inner = depth < MAX_DEPTH ? jsonInside(v) : undefined;
      if (inner !== undefined) {
        const before = changed;
        changed = false;
        const walked = walk(inner, `${path}{json}`, depth + 1);
        const innerChanged = changed;
        changed = before || innerChanged;
        return innerChanged ? JSON.stringify(walked) : v;
      }
      const out = p.text(v, path, 'text');
      if (out !== v) changed = true;
      return out;
    }
    // A number kept as the sender's exact text (src/core/json-exact.ts) is a leaf: written back as it came.
    if (depth > MAX_DEPTH || v === null || typeof v !== 'object' || isRawJson(v)) return v;
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`, depth + 1));
    const o = v as Record<string, unknown>;
    const binary = typeof o.mimeType === 'string';
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) {
      const key = p.text(k, `${path}{key}`, 'text');
      if (key !== k) changed = true;
      out[key] = binary && (k === 'data' || k === 'blob') ? x : walk(x, `${path}.${k}`, depth + 1);
    }
    return out;
  };
  const out = walk(value, root, 0);
  return { value: changed ? out : value, changed, findings: p.findings.map(summary), blocked: p.blocked };
}

function jsonInside(s: string): object | undefined {
  const t = s.trimStart();
  if (!t.startsWith('{') && !t.startsWith('[')) return undefined;
  try {
    const v: unknown = parseJsonExact(s);
    return typeof v === 'object' && v !== null ? v : undefined;
  } catch {
    return undefined;
  }
}

function summary(f: ContentFinding): Finding & Record<string, unknown> {
  return { type: f.type, start: f.start, end: f.end, score: f.score, detector: f.detector, rule: f.rule, action: f.action, path: f.path, direction: f.direction };
}
