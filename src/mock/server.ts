import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseJsonExact } from '../core/json-exact.ts';
import { countTokens, messages } from './anthropic.ts';
import { parseFault, sendMalformed, sendProviderError, streamThenFail } from './faults.ts';
import { chat, completions, embeddings, models, type MockReply } from './openai.ts';
import { responses } from './responses.ts';
import type { StreamHold } from './sse.ts';

/**
 * The built-in mock upstream: speaks the OpenAI and Anthropic wire formats (JSON and SSE) so the quick start,
 * the tests and the benchmark need no provider account. Answers echo the last user text (`echo: …`), split into
 * `chunks` stream pieces `chunkDelayMs` apart. Paths work with and without the `/v1` prefix.
 */
export interface MockUpstreamOptions {
  port?: number;
  host?: string;
  chunks?: number;
  chunkDelayMs?: number;
  /** Streams wait after their first two events until `hold.released` (src/mock/sse.ts StreamHold). */
  hold?: StreamHold;
  /** Keep received requests for assertions (tests). Off for the benchmark. */
  record?: boolean;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  rawBody: string;
  aborted: boolean;
}

export interface MockUpstream {
  url: string;
  port: number;
  received: ReceivedRequest[];
  close(): Promise<void>;
}

type Handler = (r: MockReply) => void | Promise<void>;
const OPENAI: Record<string, Handler> = { '/chat/completions': chat, '/responses': responses, '/embeddings': embeddings, '/completions': completions };
const ANTHROPIC: Record<string, Handler> = { '/messages': messages, '/messages/count_tokens': countTokens };

export async function startMockUpstream(opts: MockUpstreamOptions = {}): Promise<MockUpstream> {
  const received: ReceivedRequest[] = [];
  let seq = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const entry: ReceivedRequest = { method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]!, headers: { ...req.headers }, body: undefined, rawBody, aborted: false };
      try {
        // Exact numbers (src/core/json-exact.ts): what the mock echoes back (x_unknown_field) keeps the client's text.
        entry.body = rawBody ? parseJsonExact(rawBody) : undefined;
      } catch {
        entry.body = undefined;
      }
      if (opts.record !== false) received.push(entry);
      res.on('close', () => {
        if (!res.writableFinished) entry.aborted = true;
      });
      void handle({ req, res, entry, seq: ++seq, opts });
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((ok) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', ok));
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${addr.port}`,
    port: addr.port,
    received,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

async function handle(h: { req: IncomingMessage; res: ServerResponse; entry: ReceivedRequest; seq: number; opts: MockUpstreamOptions }): Promise<void> {
  const { req, res, entry } = h;
  const path = entry.path.replace(/^\/v1(?=\/)/, '');
  const anthropic = path.startsWith('/messages');
  if (!req.headers.authorization && !req.headers['x-api-key'] && !req.headers['api-key']) return sendProviderError(res, anthropic, 401);
  const fault = parseFault(req.headers['x-mock-fail']);
  if (fault?.kind === 'hang') return;
  if (fault?.kind === 'reset') return void req.socket.destroy();
  if (fault?.kind === 'status') return sendProviderError(res, anthropic, fault.status);
  if (fault?.kind === 'slow-first-byte') await new Promise((r) => setTimeout(r, fault.ms));
  if (req.method === 'GET' && path === '/models') return models(res);
  const handler = req.method === 'POST' ? (anthropic ? ANTHROPIC[path] : OPENAI[path]) : undefined;
  if (!handler) return sendProviderError(res, anthropic, 404);
  if (typeof entry.body !== 'object' || entry.body === null) return sendProviderError(res, anthropic, 400);
  if (fault?.kind === 'midstream-reset' || fault?.kind === 'garbage-sse') return streamThenFail(res, anthropic, fault.kind);
  if (fault?.kind === 'truncated-json' || fault?.kind === 'html') return sendMalformed(res, fault.kind);
  await handler({ res, body: entry.body as Record<string, unknown>, chunks: h.opts.chunks ?? 8, delayMs: h.opts.chunkDelayMs ?? 0, hold: h.opts.hold, seq: h.seq });
}

/** `portcullis mock-upstream --port N [--host H] [--chunks N] [--delay-ms N]` */
export async function runMockUpstream(args: string[]): Promise<number> {
  const get = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i === -1 ? undefined : args[i + 1];
  };
  const m = await startMockUpstream({
    port: Number(get('--port') ?? 0), host: get('--host') ?? '127.0.0.1',
    chunks: Number(get('--chunks') ?? 8), chunkDelayMs: Number(get('--delay-ms') ?? 0), record: false,
  });
  process.stdout.write(`mock upstream listening on ${m.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await m.close();
  return 0;
}
