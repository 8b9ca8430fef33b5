import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { CreateMessageResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

export interface LegacySseMcp {
  /** The SSE endpoint (GET), which names the POST endpoint in its `endpoint` event (MCP 2024-11-05). */
  url: string;
  calls: { tool: string; args: Record<string, unknown> }[];
  /** `METHOD path authorization` of every HTTP request the server received. */
  requests: { method: string; authorization: string | undefined }[];
  /** Live SSE connections. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A real MCP server on the HTTP+SSE transport of revision 2024-11-05 (the official SDK's SSEServerTransport: GET
 * /sse opens the stream, POST /messages?sessionId=… carries the client's messages), requiring its own bearer token.
 */
export async function startLegacySseMcp(o: { token: string }): Promise<LegacySseMcp> {
  const calls: LegacySseMcp['calls'] = [];
  const requests: LegacySseMcp['requests'] = [];
  const transports = new Map<string, SSEServerTransport>();
  const build = (): McpServer => {
    const server = new McpServer({ name: 'legacy-sse', version: '1.0.0' });
    server.registerTool('echo', { description: 'Echoes the text back.', inputSchema: { text: z.string() } }, ({ text }) => {
      calls.push({ tool: 'echo', args: { text } });
      return { content: [{ type: 'text', text }] };
    });
    server.registerTool('delete_repo', { description: 'Deletes a repository.', inputSchema: { name: z.string() } }, ({ name }) => {
      calls.push({ tool: 'delete_repo', args: { name } });
      return { content: [{ type: 'text', text: `deleted ${name}` }] };
    });
    server.registerTool('ask_model', { description: 'Asks the model a question.', inputSchema: { q: z.string() } }, async ({ q }, extra) => {
      calls.push({ tool: 'ask_model', args: { q } });
      try {
        const r = await extra.sendRequest({ method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: q } }], maxTokens: 10 } }, CreateMessageResultSchema);
        return { content: [{ type: 'text', text: `model said ${JSON.stringify(r.content)}` }] };
      } catch (err) {
        return { content: [{ type: 'text', text: `sampling refused: ${(err as Error).message}` }], isError: true };
      }
    });
    return server;
  };
  const http: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', authorization: req.headers.authorization });
    if (req.headers.authorization !== `Bearer ${o.token}`) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="legacy"' }).end();
      return;
    }
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname === '/sse') {
        const t = new SSEServerTransport('/messages', res);
        transports.set(t.sessionId, t);
        t.onclose = () => void transports.delete(t.sessionId);
        await build().connect(t);
        return;
      }
      const t = req.method === 'POST' && url.pathname === '/messages' ? transports.get(url.searchParams.get('sessionId') ?? '') : undefined;
      if (!t) {
        res.writeHead(404).end();
        return;
      }
      await t.handlePostMessage(req, res);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/sse`, calls, requests, connections: () => transports.size,
    async close() {
      await Promise.all([...transports.values()].map((t) => t.close().catch(() => undefined)));
      http.closeAllConnections();
      await new Promise<void>((ok) => http.close(() => ok()));
    },
  };
}
