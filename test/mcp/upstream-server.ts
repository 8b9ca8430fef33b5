import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer, ResourceTemplate, type RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import { CreateMessageResultSchema, ElicitResultSchema, SubscribeRequestSchema, UnsubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

export interface UpstreamMcp {
  url: string;
  /** Every tool call the server executed, in order. */
  calls: { tool: string; args: Record<string, unknown> }[];
  /** Every resource URI read and prompt fetched. */
  reads: string[];
  prompts: string[];
  /** The content of every sampling or elicitation answer the server received, as it reached the server. */
  sampled: unknown[];
  /** The Authorization header of every HTTP request the server received. */
  authorizations: (string | undefined)[];
  /** Every request header name the server received (to prove what the gateway forwards). */
  headerNames: Set<string>;
  /** Every value the server was asked to complete (write_to's `to`). */
  completions: string[];
  /** Every resources/subscribe and resources/unsubscribe URI, as `+uri` / `-uri`. */
  subscriptions: string[];
  /** Sends notifications/resources/updated for `uri` to every session subscribed to it. */
  updated(uri: string): Promise<void>;
  /** Adds a prompt in every live session (the SDK sends notifications/prompts/list_changed). */
  addPrompt(name: string): void;
  /** Adds a resource in every live session (the SDK sends notifications/resources/list_changed). */
  addResource(uri: string): void;
  /** Changes a tool's description in every live session (the SDK sends notifications/tools/list_changed). */
  setDescription(tool: string, description: string): void;
  close(): Promise<void>;
}

/**
 * A real MCP server (the official SDK's McpServer over StreamableHTTPServerTransport, one per session) on
 * 127.0.0.1:0 that requires its own bearer token — the credential the gateway holds, never the agent's.
 */
/**
 * `weather`: the server offers only `get_weather` (the tool the repository's mock model calls). `contacts`: it also
 * offers `find_contact`, whose result carries an e-mail address the agent never sent (result tokenization).
 */
export async function startUpstreamMcp(o: { token: string; json?: boolean; weather?: boolean; contacts?: boolean; links?: boolean; elicit?: boolean }): Promise<UpstreamMcp> {
  const calls: UpstreamMcp['calls'] = [];
  const reads: string[] = [];
  const prompts: string[] = [];
  const sampled: unknown[] = [];
  const subscriptions: string[] = [];
  const completions: string[] = [];
  const subscribers = new Map<McpServer, Set<string>>();
  const authorizations: UpstreamMcp['authorizations'] = [];
  const headerNames = new Set<string>();
  const descriptions: Record<string, string> = {
    echo: 'Echoes the text back.',
    delete_repo: 'Deletes a repository.',
    run_sql: 'Runs a read-only SQL query.',
  };
  const live: Map<string, RegisteredTool>[] = [];
  const servers: McpServer[] = [];
  const build = (): McpServer => {
    const server = new McpServer({ name: 'upstream', version: '1.0.0' });
    const tools = new Map<string, RegisteredTool>();
    tools.set('echo', server.registerTool('echo', { description: descriptions.echo, inputSchema: { text: z.string() } }, ({ text }) => {
      calls.push({ tool: 'echo', args: { text } });
      return { content: [{ type: 'text', text }] };
    }));
    tools.set('delete_repo', server.registerTool('delete_repo', { description: descriptions.delete_repo, inputSchema: { name: z.string() } }, ({ name }) => {
      calls.push({ tool: 'delete_repo', args: { name } });
      return { content: [{ type: 'text', text: `deleted ${name}` }] };
    }));
    tools.set('run_sql', server.registerTool('run_sql', { description: descriptions.run_sql, inputSchema: { sql: z.string(), options: z.unknown().optional() } }, (args) => {
      calls.push({ tool: 'run_sql', args });
      return { content: [{ type: 'text', text: JSON.stringify(args) }] };
    }));
    // Asks the agent's model through the client (server-initiated sampling), which the gateway refuses by default.
    tools.set('ask_model', server.registerTool('ask_model', { description: 'Asks the model a question.', inputSchema: { q: z.string() } }, async ({ q }, extra) => {
      calls.push({ tool: 'ask_model', args: { q } });
      try {
        const r = await extra.sendRequest({ method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: q } }], maxTokens: 10 } }, CreateMessageResultSchema);
        sampled.push(r.content);
        return { content: [{ type: 'text', text: `model said ${JSON.stringify(r.content)}` }] };
      } catch (err) {
        return { content: [{ type: 'text', text: `sampling refused: ${(err as Error).message}` }], isError: true };
      }
    }));
    if (o.contacts) {
      tools.set('find_contact', server.registerTool('find_contact', { description: 'Finds a contact by name.', inputSchema: { name: z.string() } }, ({ name }) => {
        calls.push({ tool: 'find_contact', args: { name } });
        return { content: [{ type: 'text', text: `${name}: carol.jones@example.com` }], structuredContent: { name, email: 'carol.jones@example.com' } };
      }));
    }
    // The tool the repository's mock model calls (first tool offered, input {city, unit}): for the coding-agent tests.
    if (o.weather) {
      tools.set('get_weather', server.registerTool('get_weather', { description: 'Current weather in a city.', inputSchema: { city: z.string(), unit: z.string().optional() } }, ({ city, unit }) => {
        calls.push({ tool: 'get_weather', args: { city, unit } });
        return { content: [{ type: 'text', text: `sunny in ${city}` }] };
      }));
    }
    for (const uri of ['file:///public/readme.md', 'file:///secret/keys.txt']) {
      server.registerResource(uri, uri, { mimeType: 'text/plain' }, () => {
        reads.push(uri);
        return { contents: [{ uri, text: `contents of ${uri}` }] };
      });
    }
    // Content in a prompt's arguments and in a resource URI (restored placeholders reach the server as values).
    server.registerPrompt('write_to', { description: 'Drafts a message.', argsSchema: {
      to: completable(z.string(), (v) => {
        completions.push(v);
        return ['alice', 'albert', 'bob'].filter((n) => n.startsWith(v));
      }),
    } }, ({ to }) => {
      prompts.push(`write_to ${to}`);
      return { messages: [{ role: 'user', content: { type: 'text', text: `write a note to ${to}` } }] };
    });
    server.registerResource('mailbox', new ResourceTemplate('mailbox://{address}', { list: undefined }), { mimeType: 'text/plain' }, (uri) => {
      reads.push(uri.href);
      return { contents: [{ uri: uri.href, text: `mailbox of ${decodeURIComponent(uri.href.slice('mailbox://'.length))}` }] };
    });
    for (const name of ['summarize', 'admin_override']) {
      server.registerPrompt(name, { description: `The ${name} prompt.` }, () => {
        prompts.push(name);
        return { messages: [{ role: 'user', content: { type: 'text', text: `prompt ${name}` } }] };
      });
    }
    // `elicit`: a tool that asks the agent's user through elicitation (refused by the gateway by default).
    if (o.elicit) {
      tools.set('ask_user', server.registerTool('ask_user', { description: 'Asks the user.', inputSchema: { q: z.string() } }, async ({ q }, extra) => {
        try {
          const r = await extra.sendRequest({ method: 'elicitation/create', params: { message: q, requestedSchema: { type: 'object', properties: { answer: { type: 'string' } } } } }, ElicitResultSchema);
          sampled.push(r.content);
          return { content: [{ type: 'text', text: `user said ${JSON.stringify(r.content)}` }] };
        } catch (err) {
          return { content: [{ type: 'text', text: `elicitation refused: ${(err as Error).message}` }], isError: true };
        }
      }));
    }
    // `links`: a tool whose result points at a resource (resource_link) the agent can read back.
    if (o.links) {
      tools.set('find_doc', server.registerTool('find_doc', { description: 'Finds a document.', inputSchema: {} }, () => ({
        content: [{ type: 'resource_link', uri: 'file:///public/readme.md', name: 'readme' }, { type: 'resource', resource: { uri: 'file:///public/readme.md', text: 'inline' } }],
      })));
    }
    const subscribed = new Set<string>();
    subscribers.set(server, subscribed);
    server.server.registerCapabilities({ resources: { subscribe: true } });
    server.server.setRequestHandler(SubscribeRequestSchema, (req) => {
      subscriptions.push(`+${req.params.uri}`);
      subscribed.add(req.params.uri);
      return {};
    });
    server.server.setRequestHandler(UnsubscribeRequestSchema, (req) => {
      subscriptions.push(`-${req.params.uri}`);
      subscribed.delete(req.params.uri);
      return {};
    });
    servers.push(server);
    if (o.weather) for (const [name, tool] of tools) if (name !== 'get_weather') tool.remove();
    live.push(tools);
    return server;
  };
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const http: Server = createServer((req, res) => {
    authorizations.push(req.headers.authorization);
    for (const h of Object.keys(req.headers)) headerNames.add(h);
    if (req.headers.authorization !== `Bearer ${o.token}`) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="upstream"' }).end();
      return;
    }
    void (async () => {
      const sid = req.headers['mcp-session-id'];
      let t = typeof sid === 'string' ? transports.get(sid) : undefined;
      if (!t) {
        if (typeof sid === 'string' || req.method !== 'POST') {
          res.writeHead(404).end();
          return;
        }
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          enableJsonResponse: o.json ?? false,
          onsessioninitialized: (id) => void transports.set(id, created),
        });
        t = created;
        await build().connect(t);
      }
      await t.handleRequest(req, res);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`, calls, reads, prompts, sampled, subscriptions, completions, authorizations, headerNames,
    async updated(uri) {
      await Promise.all(servers.filter((x) => subscribers.get(x)?.has(uri)).map((x) => x.server.sendResourceUpdated({ uri })));
    },
    addResource(uri) {
      for (const x of servers) x.registerResource(uri, uri, { mimeType: 'text/plain' }, () => ({ contents: [{ uri, text: `contents of ${uri}` }] }));
    },
    addPrompt(name) {
      for (const x of servers) x.registerPrompt(name, { description: `The ${name} prompt.` }, () => ({ messages: [{ role: 'user', content: { type: 'text', text: `prompt ${name}` } }] }));
    },
    setDescription(tool, description) {
      descriptions[tool] = description;
      for (const tools of live) tools.get(tool)?.update({ description });
    },
    async close() {
      await Promise.all([...transports.values()].map((t) => t.close().catch(() => undefined)));
      http.closeAllConnections();
      await new Promise<void>((ok) => http.close(() => ok()));
    },
  };
}
