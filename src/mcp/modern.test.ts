import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classify, type McpMessage } from './jsonrpc.ts';
import { eraOf, paramHeaders, standardHeaders, toLegacyRequest, toModernAnswer } from './modern.ts';

const ENVELOPE = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' } };
const msg = (v: unknown): McpMessage => classify(v)!;
const call = (name: string, meta: Record<string, unknown> = ENVELOPE): McpMessage => msg({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {}, _meta: meta } });
const headers = (name: string): Record<string, string> => ({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name });

describe('MCP 2026-07-28 era classification and shaping (modern.ts)', () => {
  it('a request without an envelope and without a 2026 header is session-based', () => {
    assert.deepEqual(eraOf({ 'mcp-protocol-version': '2025-11-25' }, msg({ jsonrpc: '2.0', id: 1, method: 'tools/list' })), { era: 'legacy' });
  });

  it('an enveloped request with mirroring headers is 2026-07-28; Mcp-Name may be base64-encoded (SEP-2243)', () => {
    assert.deepEqual(eraOf(headers('echo'), call('echo')), { era: 'modern', version: '2026-07-28' });
    const b64 = `=?base64?${Buffer.from('héllo').toString('base64')}?=`;
    assert.deepEqual(eraOf({ ...headers('x'), 'mcp-name': b64 }, call('héllo')), { era: 'modern', version: '2026-07-28' });
  });

  it('headers that do not mirror the body, or are missing, are -32020; an unknown revision is -32022 with the supported list', () => {
    const code = (e: ReturnType<typeof eraOf>): number | undefined => ('reject' in e ? e.reject.code : undefined);
    assert.equal(code(eraOf(headers('echo'), call('delete_repo'))), -32020);
    assert.equal(code(eraOf({ 'mcp-protocol-version': '2026-07-28' }, call('echo'))), -32020);
    assert.equal(code(eraOf({ ...headers('echo'), 'mcp-protocol-version': '2025-11-25' }, call('echo'))), -32020);
    const unknown = eraOf(headers('echo'), call('echo', { ...ENVELOPE, 'io.modelcontextprotocol/protocolVersion': '2027-01-01' }));
    assert.ok('reject' in unknown && unknown.reject.code === -32022 && (unknown.reject.data?.supported as string[]).includes('2026-07-28'));
    assert.equal(code(eraOf(headers('echo'), msg({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo' } }))), -32602);
  });

  it('upstream headers are derived from the forwarded body, values outside visible ASCII base64-encoded', () => {
    assert.deepEqual(standardHeaders({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo' } }, '2026-07-28'),
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
    assert.equal(standardHeaders({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'file:///a b\n' } }, '2026-07-28')['mcp-name'],
      `=?base64?${Buffer.from('file:///a b\n').toString('base64')}?=`);
  });

  it('translation: the envelope and round-trip fields are removed for a 2025 server; its results gain resultType and private caching', () => {
    const out = toLegacyRequest({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', inputResponses: {}, requestState: 's', _meta: { ...ENVELOPE, progressToken: 5 } } });
    assert.deepEqual(out.params, { name: 'echo', _meta: { progressToken: 5 } });
    assert.deepEqual(toModernAnswer({ jsonrpc: '2.0', id: 1, result: { tools: [] } }, 'tools/list').result, { resultType: 'complete', ttlMs: 0, cacheScope: 'private', tools: [] });
    assert.deepEqual(toModernAnswer({ jsonrpc: '2.0', id: 1, result: { content: [] } }, 'tools/call').result, { resultType: 'complete', content: [] });
  });

  it('Mcp-Param headers mirror x-mcp-header properties reachable through properties, primitives only', () => {
    const schema = { type: 'object', properties: {
      region: { type: 'string', 'x-mcp-header': 'Region' }, n: { type: 'integer', 'x-mcp-header': 'N' },
      nested: { type: 'object', properties: { flag: { type: 'boolean', 'x-mcp-header': 'Flag' } } },
      list: { type: 'array', items: { type: 'string', 'x-mcp-header': 'Item' } }, bad: { type: 'string', 'x-mcp-header': 'a b' },
    } };
    assert.deepEqual(paramHeaders(schema, { region: 'é', n: 3, nested: { flag: false }, list: ['x'], bad: 'v' }),
      { 'mcp-param-region': `=?base64?${Buffer.from('é').toString('base64')}?=`, 'mcp-param-n': '3', 'mcp-param-flag': 'false' });
    assert.deepEqual(paramHeaders(schema, { n: 1.5 }), {});
  });
});
