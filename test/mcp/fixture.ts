import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';

/** The MCP suites' shared pieces: a policy file for the gateway's config, an SDK client on an endpoint, a result's text. */

/** Writes `policy` to a fresh file and returns the config lines that load it (`policy.file`). */
export function policyYaml(policy: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'pcl-mcp-policy-')), 'policy.yaml');
  writeFileSync(file, policy);
  return `\npolicy:\n  file: ${file}\n`;
}

/** The official SDK client over Streamable HTTP at `url`, presenting `key` as a bearer credential. */
export async function connectMcp(url: string, key: string, name: string, capabilities?: ClientCapabilities): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name, version: '1.0.0' }, capabilities ? { capabilities } : undefined);
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } });
  await client.connect(transport);
  return { client, transport };
}

/** The text of a tool result's first content block. */
export const toolText = (r: unknown): string => ((r as CallToolResult).content[0] as { text: string }).text;
