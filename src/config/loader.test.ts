import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULT_CONFIG_YAML, parseConfig } from './loader.ts';
import { interpolateEnv, resolveSecretRef } from './secrets.ts';

describe('config', () => {
  it('the embedded default is valid and filled with defaults', () => {
    const c = parseConfig(DEFAULT_CONFIG_YAML, 'default');
    assert.equal(c.server.max_body_bytes, 10 * 1024 * 1024);
    assert.equal(c.providers[0]!.type, 'mock');
    assert.deepEqual(c.auth.roles.admin, ['portcullis-admins']);
  });
  const issues = (yaml: string) => {
    try {
      parseConfig(yaml, 'f.yaml');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.issues;
    }
    assert.fail('expected a ConfigError');
  };
  it('names the key path and line of every problem', () => {
    const got = issues('server:\n  listen: 8080\n  lisen: x\nproviders:\n  - name: o\n    type: openai\n    base_url: https://x/v1\nroutes:\n  - model: "*"\n    provider: p2\n');
    assert.deepEqual(got.map((i) => [i.path, i.line]).sort(), [['server.lisen', 3], ['server.listen', 2]]);
    const sem = issues('providers:\n  - name: o\n    type: openai\n    base_url: https://x/v1\nroutes:\n  - model: "*"\n    provider: p2\n');
    assert.deepEqual(sem.map((i) => [i.path, i.line]), [['providers[0].api_key', 2], ['routes[0].provider', 7]]);
  });
  it('checks what the schema cannot: a sink timeout not below the delivery lease', () => {
    const got = issues('providers: [{ name: m, type: mock }]\nroutes: [{ model: "*", provider: m }]\nevents:\n  lease_ms: 5000\n  sinks:\n    - name: s\n      type: http\n      url: http://127.0.0.1:9/x\n      timeout_ms: 5000\n');
    assert.deepEqual(got.map((i) => [i.path, i.line]), [['events.sinks[0].timeout_ms', 9]]);
  });
  it('checks MCP servers: exactly one of url and command, the transport that fits, the aggregate separator', () => {
    const base = 'providers: [{ name: m, type: mock }]\nroutes: [{ model: "*", provider: m }]\n';
    const ok = parseConfig(`${base}mcp:\n  servers:\n    - { name: fs, command: node, args: [s.js], env: { A: b }, credential_env: TOKEN }\n    - { name: old, transport: sse, url: "http://x/sse" }\n`, 'f.yaml');
    assert.equal(ok.mcp.servers[0]!.stdio.max_processes, 32);
    assert.ok(issues(`${base}mcp:\n  servers:\n    - { name: both, command: node, url: "http://x/mcp" }\n`).some((i) => i.path.startsWith('mcp.servers[0]')));
    assert.deepEqual(issues(`${base}mcp:\n  servers:\n    - { name: s, transport: stdio, url: "http://x/mcp" }\n`).map((i) => i.path), ['mcp.servers[0].command']);
    assert.deepEqual(issues(`${base}mcp:\n  servers:\n    - { name: h, url: "http://x/mcp", credential_env: T }\n`).map((i) => i.path), ['mcp.servers[0].credential_env']);
    const agg = issues(`${base}mcp:\n  aggregate: { path: /mcp/all }\n  servers:\n    - { name: all, url: "http://x/mcp" }\n    - { name: a__b, url: "http://y/mcp" }\n`).map((i) => i.path).sort();
    assert.deepEqual(agg, ['mcp.aggregate.path', 'mcp.servers[1].name']);
  });
  it('checks MCP token audiences and the correlation window (docs/mcp.md#authorization, #correlation)', () => {
    const base = 'providers: [{ name: m, type: mock }]\nroutes: [{ model: "*", provider: m }]\n';
    const d = parseConfig(`${base}mcp:\n  servers:\n    - { name: a, url: "http://x/mcp" }\n`, 'f.yaml');
    assert.equal(d.mcp.audience, 'resource', 'the safe default: only tokens issued for the MCP resource');
    assert.deepEqual(d.mcp.servers[0]!.audience, []);
    assert.equal(d.mcp.correlation_window_ms, 3_600_000);
    const set = parseConfig(`${base}mcp:\n  audience: [api://all-mcp]\n  correlation_window_ms: 60000\n  servers:\n    - { name: a, url: "http://x/mcp", audience: [api://a] }\n`, 'f.yaml');
    assert.deepEqual([set.mcp.audience, set.mcp.servers[0]!.audience, set.mcp.correlation_window_ms], [['api://all-mcp'], ['api://a'], 60_000]);
    for (const bad of ['audience: everything', 'audience: []', 'audience: [resource]', 'correlation_window_ms: 0', 'correlation_window_ms: 1h', 'correlation_window_ms: 999999999999']) {
      assert.ok(issues(`${base}mcp:\n  ${bad}\n`).some((i) => i.path.startsWith('mcp.')), bad);
    }
  });
  it('checks MCP required scopes: RFC 6749 §3.3 scope tokens, none by default (docs/mcp.md#required-scopes)', () => {
    const base = 'providers: [{ name: m, type: mock }]\nroutes: [{ model: "*", provider: m }]\n';
    const d = parseConfig(`${base}mcp:\n  servers:\n    - { name: a, url: "http://x/mcp" }\n`, 'f.yaml');
    assert.deepEqual([d.mcp.required_scopes, d.mcp.servers[0]!.required_scopes], [[], []], 'no behaviour change by default');
    const set = parseConfig(`${base}mcp:\n  required_scopes: [mcp:tools]\n  servers:\n    - { name: a, url: "http://x/mcp", required_scopes: ["files:write", "https://api.corp/x.y"] }\n`, 'f.yaml');
    assert.deepEqual([set.mcp.required_scopes, set.mcp.servers[0]!.required_scopes], [['mcp:tools'], ['files:write', 'https://api.corp/x.y']]);
    for (const bad of ['required_scopes: "mcp:tools"', 'required_scopes: ["a b"]', 'required_scopes: [""]', 'required_scopes: [\'a"b\']', 'required_scopes: ["a\\\\b"]', 'required_scopes: [x, x]', 'required_scopes: [é]']) {
      assert.ok(issues(`${base}mcp:\n  ${bad}\n`).some((i) => i.path.startsWith('mcp.required_scopes')), bad);
    }
    assert.ok(issues(`${base}mcp:\n  servers:\n    - { name: a, url: "http://x/mcp", required_scopes: ["a b"] }\n`).some((i) => i.path.startsWith('mcp.servers[0].required_scopes')));
  });
  it('reports YAML syntax errors with a line', () => {
    assert.equal(issues('providers: [\n')[0]!.path, '(yaml)');
  });
  it('resolves secret references and refuses missing ones', async () => {
    assert.equal(await resolveSecretRef('env:K', { baseDir: '/', env: { K: 'v' } }), 'v');
    await assert.rejects(resolveSecretRef('env:MISSING', { baseDir: '/', env: {} }));
    await assert.rejects(resolveSecretRef('file:/nonexistent/x', { baseDir: '/', env: {} }));
    assert.equal(interpolateEnv('Bearer ${T}', { T: 'tok' }), 'Bearer tok');
  });
});
