import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalResourceUri, mcpAudience } from './audience.ts';

describe('MCP token audiences (src/mcp/audience.ts)', () => {
  it('the resource URI is the canonical form of public URL + path (MCP authorization §Canonical Server URI)', () => {
    assert.equal(canonicalResourceUri('https://Portcullis.CORP/', '/mcp/github'), 'https://portcullis.corp/mcp/github');
    assert.equal(canonicalResourceUri('HTTPS://gw.corp:443', '/mcp'), 'https://gw.corp/mcp');
    assert.equal(canonicalResourceUri('http://127.0.0.1:8080/base//', '/mcp/a'), 'http://127.0.0.1:8080/base/mcp/a');
  });

  it('a server accepts its resource URI, the global list and its own list; another endpoint not that server\'s list', () => {
    const servers = [{ name: 'a', audience: ['api://a'] }, { name: 'b', audience: [] }] as never;
    const aud = mcpAudience({ audience: ['api://all'], servers }, () => 'https://gw.corp');
    assert.deepEqual(aud.bindingFor('/mcp/a', 'a'), { accept: ['https://gw.corp/mcp/a', 'api://all', 'api://a'], identity: false });
    assert.deepEqual(aud.bindingFor('/mcp/b', 'b'), { accept: ['https://gw.corp/mcp/b', 'api://all'], identity: false });
    assert.deepEqual(aud.bindingFor('/mcp'), { accept: ['https://gw.corp/mcp', 'api://all'], identity: false });
    assert.equal(mcpAudience({ audience: 'resource', servers }, () => 'https://gw.corp').bindingFor('/mcp/a', 'a').identity, false);
    assert.equal(mcpAudience({ audience: 'identity', servers }, () => 'https://gw.corp').bindingFor('/mcp/a', 'a').identity, true);
  });
});
