import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Number tokens a double cannot hold exactly: > 2^53, overflow, negative zero, a 34-digit decimal. */
export const EXACT = '"big":12345678901234567890123,"inf":1e400,"neg":-0,"dec":0.1000000000000000055511151231257827';

/**
 * A raw HTTP MCP server on 127.0.0.1:0 (no SDK: the SDK would parse the JSON itself) that records the exact bytes
 * of every message it receives. It offers one tool, `lookup`, whose result carries an e-mail address and EXACT.
 */
export interface RawServer {
  url: string;
  bodies: string[];
  /** While true, tool calls are answered 401 (the gateway's credential refused; listing still works). */
  refuseCredential: boolean;
  close(): Promise<void>;
}

export async function startRawServer(): Promise<RawServer> {
  const bodies: string[] = [];
  let refuse = false;
  const http: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(405).end();
      const text = Buffer.concat(chunks).toString('utf8');
      bodies.push(text);
      const msg = JSON.parse(text) as { id?: number | string; method?: string };
      if (refuse && msg.method === 'tools/call') return void res.writeHead(401, { 'www-authenticate': 'Bearer realm="raw"' }).end('{"error":"invalid_token"}');
      const answer = (result: string, headers: Record<string, string> = {}): void =>
        void res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(`{"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},"result":${result}}`);
      if (msg.id === undefined) return void res.writeHead(202).end();
      if (msg.method === 'initialize') return answer('{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"raw","version":"1"}}', { 'mcp-session-id': 'sess-1' });
      if (msg.method === 'tools/list') return answer('{"tools":[{"name":"lookup","inputSchema":{"type":"object"}}]}');
      // The result carries an e-mail address (masked on the way back) next to the numbers.
      return answer(`{"content":[{"type":"text","text":"owner: dave@example.com"}],"structuredContent":{"owner":"dave@example.com",${EXACT}}}`);
    });
  });
  await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`, bodies,
    get refuseCredential() {
      return refuse;
    },
    set refuseCredential(v: boolean) {
      refuse = v;
    },
    close: () => new Promise<void>((ok) => { http.closeAllConnections(); http.close(() => ok()); }),
  };
}
