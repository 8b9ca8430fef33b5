// Benchmark child: a minimal MCP server over stdio (newline-delimited JSON-RPC, MCP stdio transport), answering
// like bench/mcp.ts's HTTP server so its own cost is tiny and the same whether the gateway or the bench drives it.
import { createInterface } from 'node:readline';

const TOOL = { name: 'lookup', description: 'Looks a ticket up.', inputSchema: { type: 'object', properties: { id: { type: 'string' } } } };
const INIT = { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'bench-stdio', version: '1' } };

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const m = JSON.parse(line) as { id?: number | string; method?: string; params?: { arguments?: unknown } };
  if (m.id === undefined || m.method === undefined) continue;
  const result = m.method === 'initialize' ? INIT : m.method === 'tools/list' ? { tools: [TOOL] }
    : m.method === 'tools/call' ? { content: [{ type: 'text', text: `ticket ${JSON.stringify(m.params?.arguments)} is open` }] } : {};
  process.stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id: m.id, result })}\n`);
}
