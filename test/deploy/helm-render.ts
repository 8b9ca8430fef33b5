import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

/**
 * A renderer for the subset of Helm's Go templates deploy/helm/portcullis uses, so the chart is rendered and its
 * manifests parsed on a machine without `helm` (Debian does not package it; only npm and Debian are reachable).
 * Supported: `{{ }}` with `-` trimming; `define`/`include`; `if`/`else`/`with`/`range`/`end`; pipelines of
 * `toYaml`, `nindent`, `quote`, `sha256sum`, `required`, `not`; fields of `.`; string and number literals.
 * Anything else throws, so a template that steps outside the subset fails the test instead of rendering wrong.
 */
type Node = { kind: 'text'; text: string } | { kind: 'out'; pipe: string } | { kind: 'block'; op: 'if' | 'with' | 'range'; pipe: string; then: Node[]; else: Node[] };

interface Scope { dot: unknown; root: Root; defines: Map<string, Node[]> }
interface Root { Values: unknown; Release: Record<string, unknown>; Chart: Record<string, unknown> }

export interface RenderedChart {
  /** Every manifest (a YAML document per template file), by template file name. */
  manifests: Map<string, unknown>;
  text: Map<string, string>;
}

export function renderChart(chartDir: string, overrides: Record<string, unknown> = {}): RenderedChart {
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const values = deepMerge(parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')), overrides);
  const root: Root = {
    Values: values,
    Release: { Name: 'rel', Namespace: 'ns', Service: 'Helm' },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
  };
  const dir = join(chartDir, 'templates');
  const defines = new Map<string, Node[]>();
  const files = readdirSync(dir).sort();
  for (const f of files.filter((x) => x.endsWith('.tpl'))) collectDefines(parseTemplate(readFileSync(join(dir, f), 'utf8')), defines);
  const manifests = new Map<string, unknown>();
  const text = new Map<string, string>();
  for (const f of files.filter((x) => x.endsWith('.yaml'))) {
    const out = render(parseTemplate(readFileSync(join(dir, f), 'utf8')), { dot: root, root, defines });
    text.set(f, out);
    const doc: unknown = parse(out);
    if (doc !== null && doc !== undefined) manifests.set(f, doc);
  }
  return { manifests, text };
}

function parseTemplate(src: string): Node[] {
  const tokens: ({ text: string } | { action: string })[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open === -1) {
      tokens.push({ text: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    const close = src.indexOf('}}', open);
    if (close === -1) throw new Error('unclosed {{');
    let action = src.slice(open + 2, close);
    if (action.startsWith('-')) {
      text = text.replace(/\s+$/, '');
      action = action.slice(1);
    }
    i = close + 2;
    if (action.endsWith('-')) {
      action = action.slice(0, -1);
      while (i < src.length && /\s/.test(src[i]!)) i++;
    }
    tokens.push({ text }, { action: action.trim() });
  }
  let pos = 0;
  const block = (): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos++]!;
      if ('text' in t) {
        if (t.text) nodes.push({ kind: 'text', text: t.text });
        continue;
      }
      const [word = '', ...rest] = t.action.split(/\s+/);
      if (word === 'end' || word === 'else') return { nodes, end: word };
      if (word === 'if' || word === 'with' || word === 'range') {
        const then = block();
        const other = then.end === 'else' ? block() : { nodes: [], end: 'end' };
        nodes.push({ kind: 'block', op: word, pipe: rest.join(' '), then: then.nodes, else: other.nodes });
      } else if (word === 'define') {
        const body = block();
        nodes.push({ kind: 'block', op: 'if', pipe: `define ${rest.join(' ')}`, then: body.nodes, else: [] });
      } else nodes.push({ kind: 'out', pipe: t.action });
    }
    return { nodes, end: 'eof' };
  };
  return block().nodes;
}

function collectDefines(nodes: Node[], into: Map<string, Node[]>): void {
  for (const n of nodes) {
    if (n.kind === 'block' && n.pipe.startsWith('define ')) into.set(JSON.parse(n.pipe.slice(7)) as string, n.then);
  }
}

function render(nodes: Node[], s: Scope): string {
  let out = '';
  for (const n of nodes) {
    if (n.kind === 'text') out += n.text;
    else if (n.kind === 'out') out += str(evalPipe(n.pipe, s));
    else {
      const v = evalPipe(n.pipe, s);
      if (n.op === 'range') {
        const items = Array.isArray(v) ? v : [];
        out += items.length ? items.map((dot) => render(n.then, { ...s, dot })).join('') : render(n.else, s);
      } else if (truthy(v)) out += render(n.then, n.op === 'with' ? { ...s, dot: v } : s);
      else out += render(n.else, s);
    }
  }
  return out;
}

function evalPipe(pipe: string, s: Scope): unknown {
  let piped: unknown[] = [];
  for (const cmd of pipe.split('|').map((c) => c.trim())) {
    const [head = '', ...args] = tokenize(cmd);
    const vals = [...args.map((a) => operand(a, s)), ...piped];
    piped = [call(head, vals, s)];
  }
  return piped[0];
}

function call(head: string, a: unknown[], s: Scope): unknown {
  switch (head) {
    case 'include': {
      const body = s.defines.get(a[0] as string);
      if (!body) throw new Error(`include of undefined template ${String(a[0])}`);
      return render(body, { ...s, dot: a[1] });
    }
    case 'toYaml': return truthy(a[0]) ? stringify(a[0]).trimEnd() : '';
    case 'nindent': return '\n' + str(a[1]).split('\n').map((l) => ' '.repeat(Number(a[0])) + l).join('\n');
    case 'quote': return JSON.stringify(str(a[0]));
    case 'sha256sum': return createHash('sha256').update(str(a[0])).digest('hex');
    case 'not': return !truthy(a[0]);
    case 'required':
      if (!truthy(a[1])) throw new Error(`required: ${String(a[0])}`);
      return a[1];
    default:
      if (a.length) throw new Error(`unsupported function ${head}`);
      return operand(head, s);
  }
}

function operand(tok: string, s: Scope): unknown {
  if (tok.startsWith('"')) return JSON.parse(tok) as string;
  if (/^-?\d+$/.test(tok)) return Number(tok);
  if (tok === '.') return s.dot;
  if (tok.startsWith('.')) return tok.slice(1).split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), s.dot);
  throw new Error(`unsupported operand ${tok}`);
}

function tokenize(cmd: string): string[] {
  return cmd.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
}

function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error('a mapping or list printed without toYaml');
}

function deepMerge(base: unknown, over: Record<string, unknown>): unknown {
  if (!base || typeof base !== 'object' || Array.isArray(base)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = v && typeof v === 'object' && !Array.isArray(v) ? deepMerge(out[k], v as Record<string, unknown>) : v;
  return out;
}
