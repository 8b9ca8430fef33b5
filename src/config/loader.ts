import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { checkEventsConfig } from '../events/config-schema.ts';
import { mcpTransportOf } from '../mcp/config-schema.ts';
import { stringMatcher } from '../policy/matchers.ts';
import { checkAlertsConfig } from '../alerts/config-schema.ts';
import { configSchema, type Config } from './schema.ts';

/** One problem in a config file, located by key path and (when known) line. */
export interface ConfigIssue {
  path: string;
  message: string;
  line?: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: ConfigIssue[];
  constructor(file: string, issues: ConfigIssue[]) {
    super(`invalid config ${file}:\n` + issues.map((i) => `  ${i.path}${i.line ? ` (line ${i.line})` : ''}: ${i.message}`).join('\n'));
    this.issues = issues;
  }
}

export interface LoadedConfig {
  config: Config;
  /** Directory relative paths in the config resolve against. */
  baseDir: string;
  file: string | undefined;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validate = ajv.compile<Config>(configSchema);

/**
 * The embedded default: no file needed. A built-in mock provider answers every model, so the quick start works
 * without provider keys.
 */
export const DEFAULT_CONFIG_YAML = `
server:
  listen: 127.0.0.1:8080
store:
  url: sqlite:./.portcullis/portcullis.db
providers:
  - name: mock
    type: mock
routes:
  - model: "*"
    provider: mock
`;

export async function loadConfigFile(file: string | undefined, cwd = process.cwd()): Promise<LoadedConfig> {
  if (file === undefined) return { config: parseConfig(DEFAULT_CONFIG_YAML, '<embedded default>'), baseDir: cwd, file };
  const abs = resolve(cwd, file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch {
    throw new ConfigError(abs, [{ path: '(file)', message: 'cannot read config file' }]);
  }
  return { config: parseConfig(text, abs), baseDir: dirname(abs), file: abs };
}

export function parseConfig(text: string, file: string): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => ({ path: '(yaml)', message: e.message.split('\n')[0] ?? e.message, line: e.linePos?.[0].line })));
  }
  const data: unknown = doc.toJS() ?? {};
  if (!validate(data)) {
    throw new ConfigError(file, (validate.errors ?? []).map((e) => issueFromAjv(e, doc, lineCounter)));
  }
  const semantic = checkSemantics(data);
  if (semantic.length > 0) {
    throw new ConfigError(file, semantic.map((i) => ({ ...i, line: lineOf(doc, lineCounter, i.path) })));
  }
  return data;
}

export function issueFromAjv(e: ErrorObject, doc: Document, lc: LineCounter): ConfigIssue {
  let path = toKeyPath(e.instancePath);
  let message = e.message ?? 'invalid';
  if (e.keyword === 'additionalProperties') {
    const extra = String((e.params as { additionalProperty?: string }).additionalProperty);
    path = path ? `${path}.${extra}` : extra;
    message = 'unknown key';
  } else if (e.keyword === 'enum') {
    message = `must be one of ${JSON.stringify((e.params as { allowedValues?: unknown[] }).allowedValues)}`;
  }
  return { path: path || '(root)', message, line: lineOf(doc, lc, path) };
}

/** `/providers/0/type` -> `providers[0].type` */
export function toKeyPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

export function lineOf(doc: Document, lc: LineCounter, keyPath: string): number | undefined {
  const segments = keyPath.match(/[^.[\]]+/g) ?? [];
  const keys = segments.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  for (let n = keys.length; n >= 0; n--) {
    const node = doc.getIn(keys.slice(0, n), true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

function checkSemantics(c: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const names = new Set<string>();
  c.providers.forEach((p, i) => {
    if (names.has(p.name)) issues.push({ path: `providers[${i}].name`, message: `duplicate provider name "${p.name}"` });
    names.add(p.name);
    if (p.type !== 'mock' && !p.base_url) issues.push({ path: `providers[${i}].base_url`, message: `required for type ${p.type}` });
    if ((p.type === 'openai' || p.type === 'anthropic' || p.type === 'azure-openai') && !p.api_key) {
      issues.push({ path: `providers[${i}].api_key`, message: `required for type ${p.type} (env:NAME, file:PATH or store)` });
    }
  });
  c.routes.forEach((r, i) => {
    if (!names.has(r.provider)) issues.push({ path: `routes[${i}].provider`, message: `unknown provider "${r.provider}"` });
  });
  const servers = new Set<string>();
  c.mcp.servers.forEach((m, i) => {
    if (servers.has(m.name)) issues.push({ path: `mcp.servers[${i}].name`, message: `duplicate MCP server name "${m.name}"` });
    servers.add(m.name);
    // The transport follows from url/command unless given; a mismatch is a config error, not a guess.
    const transport = mcpTransportOf(m);
    if (transport === 'stdio' && m.command === undefined) issues.push({ path: `mcp.servers[${i}].command`, message: 'required for transport stdio' });
    if (transport !== 'stdio' && m.url === undefined) issues.push({ path: `mcp.servers[${i}].url`, message: `required for transport ${transport}` });
    if (m.credential_env !== undefined && transport !== 'stdio') issues.push({ path: `mcp.servers[${i}].credential_env`, message: 'only for transport stdio' });
  });
  const agg = c.mcp.aggregate;
  if (agg) {
    for (const m of c.mcp.servers) {
      if (agg.path === `/mcp/${m.name}`) issues.push({ path: 'mcp.aggregate.path', message: `the path of MCP server "${m.name}"` });
    }
    const member = stringMatcher(agg.servers)!;
    c.mcp.servers.forEach((m, i) => {
      if (member(m.name) && m.name.includes(agg.separator)) {
        issues.push({ path: `mcp.servers[${i}].name`, message: `contains the aggregate separator "${agg.separator}" (tool names would be ambiguous)` });
      }
    });
  }
  // Rules JSON Schema cannot state (sink timeout below the delivery lease, unique sink names).
  issues.push(...checkEventsConfig(c.events));
  issues.push(...checkAlertsConfig(c.alerts));
  return issues;
}
