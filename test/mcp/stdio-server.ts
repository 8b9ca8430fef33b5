/**
 * A real MCP server over stdio (the official SDK's McpServer and StdioServerTransport), launched by the gateway in
 * the stdio tests. `MCP_TEST_CRASH_ON_START=1` makes it exit before answering anything (a crash loop).
 */
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

if (process.env.MCP_TEST_SPAWN_LOG) appendFileSync(process.env.MCP_TEST_SPAWN_LOG, `${process.pid}\n`);
if (process.env.MCP_TEST_CRASH_ON_START === '1') process.exit(3);

const server = new McpServer({ name: 'stdio-upstream', version: '1.0.0' });
server.registerTool('echo', { description: 'Echoes the text back.', inputSchema: { text: z.string() } }, ({ text }) => ({ content: [{ type: 'text', text }] }));
server.registerTool('delete_repo', { description: 'Deletes a repository.', inputSchema: { name: z.string() } }, ({ name }) => ({ content: [{ type: 'text', text: `deleted ${name}` }] }));
// What the process was given: a digest of its credential (never the value) and whether it inherited the gateway's env.
server.registerTool('environment', { description: 'Describes the environment of the process.', inputSchema: {} }, () => ({
  content: [{
    type: 'text',
    text: JSON.stringify({
      pid: process.pid,
      token_sha256: process.env.UPSTREAM_TOKEN ? createHash('sha256').update(process.env.UPSTREAM_TOKEN).digest('hex') : null,
      region: process.env.REGION ?? null,
      gateway_secret_visible: process.env.PCL_TEST_GATEWAY_ONLY !== undefined,
    }),
  }],
}));
server.registerTool('crash', { description: 'Exits the process in the middle of a call.', inputSchema: {} }, () => process.exit(1));
await server.connect(new StdioServerTransport());
