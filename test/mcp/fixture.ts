import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';

/** The MCP suites' shared pieces: a policy file for the gateway's config, an SDK client on an endpoint, a result's text. */

/**
 * The content rules of the suites about what travels between agent and server (sampling, elicitation, their
 * answers): e-mails in answers hidden from the agent, secrets never to a server, cards masked towards it.
 */
export const AGENT_SERVER_CONTENT = `content:
  rules:
    - { id: emails-hidden-from-agent, types: [EMAIL_ADDRESS], direction: response, action: tokenize }
    - { id: no-secrets-to-servers, types: ["SECRET_*"], direction: request, action: block }
    - { id: cards-masked, types: [CREDIT_CARD], direction: request, action: mask }
`;

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

/**
 * A test gateway fronting one real SDK MCP server at `/mcp/<name>` under `policy`, the server requiring its own
 * token (held only by the gateway); `close` stops both.
 */
export async function startMcpGateway(o: { name: string; policy: string; token: string; contacts?: boolean; elicit?: boolean; masterKey?: string }): Promise<{ t: TestGateway; upstream: UpstreamMcp; close: () => Promise<void> }> {
  const upstream = await startUpstreamMcp({ token: o.token, contacts: o.contacts, elicit: o.elicit });
  const env = `PCL_TEST_MCP_${o.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_TOKEN`;
  process.env[env] = o.token;
  const t = await startTestGateway({
    ...(o.masterKey ? { masterKey: o.masterKey } : {}),
    extraYaml: `${policyYaml(o.policy)}mcp:\n  servers:\n    - name: ${o.name}\n      url: ${upstream.url}\n      credential: env:${env}\n`,
  }).catch(async (err: unknown) => {
    await upstream.close();
    throw err;
  });
  return {
    t, upstream,
    close: async () => {
      await t.close();
      await upstream.close();
    },
  };
}
