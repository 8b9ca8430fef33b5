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
