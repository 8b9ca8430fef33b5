import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createMcpHandler, fromJsonSchema, inputRequired, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

export interface V2Upstream {
  url: string;
  /** Every tool call the server executed, in order. */
  calls: { tool: string; args: Record<string, unknown> }[];
  /** The `inputResponses` each retried `ask_model` call carried, as the server read them. */
  answers: Record<string, unknown>[];
  /** Every HTTP request the server received: method, headers (lower-case) and body text. */
  requests: { method: string; headers: Record<string, string>; body: string }[];
  /** Tells every `subscriptions/listen` stream that the tool list changed. */
  toolsChanged(): void;
  close(): Promise<void>;
}

/**
 * A real MCP server of the v2 SDK (`@modelcontextprotocol/server` 2.4, `createMcpHandler`): it speaks the sessionless
 * 2026-07-28 revision and, by default, serves 2025-era clients statelessly too. Requires its own bearer token — the
 * credential the gateway holds. Served by `node:http` through a small Request/Response adapter.
 */
export async function startV2Upstream(o: { token: string }): Promise<V2Upstream> {
  const calls: V2Upstream['calls'] = [];
  const answers: V2Upstream['answers'] = [];
  const requests: V2Upstream['requests'] = [];
  const factory = (): McpServer => {
    const server = new McpServer({ name: 'upstream-v2', version: '2.0.0' });
    server.registerTool('echo', { description: 'Echoes the text back.', inputSchema: z.object({ text: z.string() }) }, ({ text }) => {
      calls.push({ tool: 'echo', args: { text } });
      return { content: [{ type: 'text', text }] };
    });
    server.registerTool('delete_repo', { description: 'Deletes a repository.', inputSchema: z.object({ name: z.string() }) }, ({ name }) => {
      calls.push({ tool: 'delete_repo', args: { name } });
      return { content: [{ type: 'text', text: `deleted ${name}` }] };
    });
    server.registerTool('find_contact', { description: 'Finds a contact by name.', inputSchema: z.object({ name: z.string() }) }, ({ name }) => {
      calls.push({ tool: 'find_contact', args: { name } });
      return { content: [{ type: 'text', text: `${name}: carol.jones@example.com` }] };
    });
    // `region` is mirrored in the `Mcp-Param-Region` header (2026-07-28 "Schema Extension"), which the server checks.
    const regionSchema = { type: 'object', properties: { region: { type: 'string', 'x-mcp-header': 'Region' }, text: { type: 'string' } }, required: ['region', 'text'] };
    const regional = fromJsonSchema<{ region: string; text: string }>(regionSchema);
    server.registerTool('in_region', { description: 'Runs in a region.', inputSchema: regional }, ({ region, text }) => {
      calls.push({ tool: 'in_region', args: { region, text } });
      return { content: [{ type: 'text', text: `${text} in ${region}` }] };
    });
    // Asks the agent's model: on 2026-07-28 an `input_required` result carrying a sampling request (SEP-2322).
    server.registerTool('ask_model', { description: 'Asks the model a question.', inputSchema: z.object({ q: z.string() }) }, ({ q }, ctx) => {
      calls.push({ tool: 'ask_model', args: { q } });
      if (ctx.mcpReq.inputResponses) answers.push(ctx.mcpReq.inputResponses);
      const answered = ctx.mcpReq.inputResponses?.answer as { content?: { text?: string } } | undefined;
      if (answered) return { content: [{ type: 'text', text: `model said ${answered.content?.text ?? '?'}` }] };
      return inputRequired({ inputRequests: { answer: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: q } }], maxTokens: 10 }) } });
    });
    // The same with the server's own `requestState` (here: whatever the caller asks for), read back on the retry.
    server.registerTool('ask_stateful', { description: 'Asks the model, keeping state.', inputSchema: z.object({ q: z.string(), state: z.string() }) }, ({ q, state }, ctx) => {
      calls.push({ tool: 'ask_stateful', args: { q, state } });
      const answered = ctx.mcpReq.inputResponses?.answer as { content?: { text?: string } } | undefined;
      if (answered) return { content: [{ type: 'text', text: `model said ${answered.content?.text ?? '?'} (state ${ctx.mcpReq.requestState<string>() ?? 'none'})` }] };
      return inputRequired({ requestState: state, inputRequests: { answer: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: q } }], maxTokens: 10 }) } });
    });
    return server;
  };
  const handler = createMcpHandler(factory);
  const http: Server = createServer((req, res) => void serve(req, res));
  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    requests.push({ method: req.method ?? '', headers, body: body.toString('utf8') });
    if (req.headers.authorization !== `Bearer ${o.token}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":"unauthorized"}');
      return;
    }
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    const request = new Request(`http://127.0.0.1${req.url ?? '/'}`, {
      method: req.method, headers, signal: abort.signal, ...(body.length > 0 ? { body } : {}),
    });
    const response = await handler.fetch(request);
    const out: Record<string, string> = {};
    response.headers.forEach((v, k) => void (out[k] = v));
    res.writeHead(response.status, out);
    res.flushHeaders();
    if (!response.body) return void res.end();
    Readable.fromWeb(response.body as import('node:stream/web').ReadableStream).on('error', () => res.destroy()).pipe(res);
  }
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    calls, answers, requests,
    toolsChanged: () => void handler.notify.toolsChanged(),
    close: async () => {
      await handler.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
