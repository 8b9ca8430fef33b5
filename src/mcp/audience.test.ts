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
    const servers = [{ name: 'a', audience: ['api://a'], required_scopes: [] }, { name: 'b', audience: [], required_scopes: [] }] as never;
    const aud = mcpAudience({ audience: ['api://all'], servers, required_scopes: [] }, () => 'https://gw.corp');
    assert.deepEqual(aud.bindingFor('/mcp/a', 'a'), { accept: ['https://gw.corp/mcp/a', 'api://all', 'api://a'], identity: false });
    assert.deepEqual(aud.bindingFor('/mcp/b', 'b'), { accept: ['https://gw.corp/mcp/b', 'api://all'], identity: false });
    assert.deepEqual(aud.bindingFor('/mcp'), { accept: ['https://gw.corp/mcp', 'api://all'], identity: false });
    assert.equal(mcpAudience({ audience: 'resource', servers, required_scopes: [] }, () => 'https://gw.corp').bindingFor('/mcp/a', 'a').identity, false);
    assert.equal(mcpAudience({ audience: 'identity', servers, required_scopes: [] }, () => 'https://gw.corp').bindingFor('/mcp/a', 'a').identity, true);
  });

  it('required scopes: the global list everywhere, a server\'s own list added at that server only (docs/mcp.md#required-scopes)', () => {
    const servers = [{ name: 'a', audience: [], required_scopes: ['files:write', 'mcp:tools'] }, { name: 'b', audience: [], required_scopes: [] }] as never;
    const aud = mcpAudience({ audience: 'resource', servers, required_scopes: ['mcp:tools'] }, () => 'https://gw.corp');
    assert.deepEqual(aud.scopesFor('a'), ['mcp:tools', 'files:write']);
    assert.deepEqual(aud.scopesFor('b'), ['mcp:tools']);
    assert.deepEqual(aud.scopesFor(), ['mcp:tools'], 'the aggregated endpoint: the global list');
    assert.deepEqual(aud.scopesFor('unknown'), ['mcp:tools']);
    assert.deepEqual(mcpAudience({ audience: 'resource', servers: [], required_scopes: [] }, () => 'https://gw.corp').scopesFor(), []);
  });
});
