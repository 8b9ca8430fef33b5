import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../core/errors.ts';
import { grantedScopes, requireScopes } from './scopes.ts';

describe('token scopes (src/identity/jwt/scopes.ts)', () => {
  it('reads `scope` (space-delimited, RFC 9068) and `scp` (string or array), ignoring other shapes', () => {
    assert.deepEqual([...grantedScopes({ scope: 'mcp:tools  files:read' })], ['mcp:tools', 'files:read']);
    assert.deepEqual([...grantedScopes({ scp: ['mcp:tools', 'files:read', 7] })], ['mcp:tools', 'files:read']);
    assert.deepEqual([...grantedScopes({ scp: 'a b' })], ['a', 'b']);
    assert.deepEqual([...grantedScopes({ scope: 'a', scp: ['b'] })], ['a', 'b']);
    assert.deepEqual([...grantedScopes({ scope: ['a'], scp: { b: true } })], []);
  });

  it('every required scope must be granted; none required accepts any token', () => {
    assert.doesNotThrow(() => requireScopes({ scope: 'b a c' }, ['a', 'b'], 'user:x'));
    assert.doesNotThrow(() => requireScopes({}, [], 'user:x'));
    assert.doesNotThrow(() => requireScopes({}, undefined, 'user:x'));
    assert.throws(() => requireScopes({ scope: 'a' }, ['a', 'b'], 'user:x'), (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.deepEqual([err.code, err.status, err.details], ['forbidden', 403, { reason: 'insufficient_scope', subject: 'user:x' }]);
      return true;
    });
    assert.throws(() => requireScopes({ scope: 'ab' }, ['a'], 'user:x'), GatewayError, 'whole tokens, not substrings');
  });
});
