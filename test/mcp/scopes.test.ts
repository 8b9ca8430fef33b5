import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { decodeJwt } from 'jose';
import { connectMcp, policyYaml, toolText } from './fixture.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { bearerIdentityYaml, ENG_MAY_USE_A_AND_B, IDP_SDK_CLIENT, IDP_SCOPE, INITIALIZE as initialize, postMcp as post, startResourceIdp, type ResourceIdp } from './resource-idp.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';
import type { IdentityEvent } from '../../src/identity/events.ts';

/**
 * Required scopes (docs/mcp.md#required-scopes; MCP authorization 2025-11-25 §Scope Challenge Handling, RFC 6750
 * §3.1). A real authorization server (oidc-provider) issues resource-bound JWTs with the scopes asked for. Every MCP
 * endpoint requires `mcp:tools`; `/mcp/b` also `files:write`. A token without them gets 403 `insufficient_scope`
 * naming the scopes, and nothing reaches the upstream server; keys are exempt; the metadata lists the scopes; the
 * real SDK client with its client-credentials auth provider gets in when it asks for the scopes.
 */
const TOKEN = 'scopes-upstream-token-' + 'q'.repeat(16);
const WRITE = 'files:write';
const callEcho = (text: string): Record<string, unknown> => ({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text } } });

describe('MCP: required scopes (mcp.required_scopes, mcp.servers[].required_scopes)', () => {
  let idp: ResourceIdp;
  let upstream: UpstreamMcp;
  let t: TestGateway;
  const events: IdentityEvent[] = [];
  before(async () => {
    idp = await startResourceIdp();
    upstream = await startUpstreamMcp({ token: TOKEN });
    process.env.PCL_TEST_SCOPES_TOKEN = TOKEN;
    t = await startTestGateway({
      onIdentityEvent: (e) => void events.push(e),
      extraYaml: `${bearerIdentityYaml(idp, 'https://llm.portcullis.test/')}${policyYaml(ENG_MAY_USE_A_AND_B)}mcp:
  authorization_servers: ["${idp.issuer}"]
  scopes_supported: ["${IDP_SCOPE}", "profile"]
  required_scopes: ["${IDP_SCOPE}"]
  aggregate: { path: /mcp }
  servers:
    - { name: a, url: "${upstream.url}", credential: "env:PCL_TEST_SCOPES_TOKEN" }
    - { name: b, url: "${upstream.url}", credential: "env:PCL_TEST_SCOPES_TOKEN", required_scopes: ["${WRITE}"] }
`,
    });
  });
  after(async () => {
    await t?.close();
    await upstream?.close();
    await idp?.close();
  });

  const resource = (path: string): string => `${t.gw.url}${path}`;
  const metadataUrl = (path: string): string => `${t.gw.url}/.well-known/oauth-protected-resource${path}`;
  const upstreamSeen = (): string => JSON.stringify([upstream.calls.length, upstream.authorizations.length]);

  /** The attack: 403 with the RFC 6750 §3.1 challenge naming every required scope, a JSON-RPC refusal, the upstream untouched. */
  async function assertInsufficient(path: string, token: string, scopes: string, body: unknown = initialize, headers: Record<string, string> = {}): Promise<void> {
    const before = upstreamSeen();
    const r = await post(resource(path), token, body, headers);
    assert.equal(r.status, 403);
    assert.equal(r.headers.get('www-authenticate'), `Bearer error="insufficient_scope", scope="${scopes}", resource_metadata="${metadataUrl(path)}"`);
    const answer = await r.json() as { jsonrpc: string; id: null; error: { code: number; message: string; data: { portcullis: { code: string } } } };
    assert.deepEqual([answer.jsonrpc, answer.id, answer.error.code, answer.error.data.portcullis.code], ['2.0', null, -32001, 'insufficient_scope']);
    assert.ok(answer.error.message.includes(`"${scopes}"`), answer.error.message);
    assert.equal(upstreamSeen(), before, 'nothing reached the upstream server');
  }

  it('the protected resource metadata lists the required scopes with scopes_supported (the aggregated one its members\' too)', async () => {
    const expected: Record<string, string[]> = { '/mcp/a': [IDP_SCOPE, 'profile'], '/mcp/b': [IDP_SCOPE, 'profile', WRITE], '/mcp': [IDP_SCOPE, 'profile', WRITE] };
    for (const [path, scopes] of Object.entries(expected)) {
      const meta = await (await fetch(metadataUrl(path))).json() as Record<string, unknown>;
      assert.deepEqual([meta.resource, meta.scopes_supported], [resource(path), scopes], path);
    }
  });

  it('the 401 without a token names the required scopes (MCP authorization: scope selection from the challenge)', async () => {
    for (const [path, scopes] of [['/mcp/a', IDP_SCOPE], ['/mcp/b', `${IDP_SCOPE} ${WRITE}`], ['/mcp', IDP_SCOPE]] as const) {
      const r = await post(resource(path), undefined, initialize);
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), `Bearer scope="${scopes}", resource_metadata="${metadataUrl(path)}"`);
      await r.body?.cancel();
    }
  });

  it('a token with the required scope works (the SDK client), recorded under its identity', async () => {
    const token = await idp.tokenFor(resource('/mcp/a'), { scope: IDP_SCOPE });
    const { client } = await connectMcp(resource('/mcp/a'), token, 'agent');
    try {
      assert.equal(toolText(await client.callTool({ name: 'echo', arguments: { text: 'scoped' } })), 'scoped');
    } finally {
      await client.close();
    }
    assert.deepEqual(upstream.calls.at(-1), { tool: 'echo', args: { text: 'scoped' } });
    const rows = await t.gw.store.exchanges.list({ model: 'echo', limit: 10 });
    assert.equal(rows[0]?.subject, 'user:agent-1');
  });

  it('the attack: a token for the resource without the required scope is refused (403 insufficient_scope), also mid-session; the refusal is an auth event', async () => {
    const writeOnly = await idp.tokenFor(resource('/mcp/a'), { scope: WRITE });
    await assertInsufficient('/mcp/a', writeOnly, IDP_SCOPE);
    await assertInsufficient('/mcp/a', writeOnly, IDP_SCOPE, callEcho('smuggled'));
    const good = await idp.tokenFor(resource('/mcp/a'));
    const init = await post(resource('/mcp/a'), good, initialize);
    assert.equal(init.status, 200);
    const session = init.headers.get('mcp-session-id')!;
    await init.body?.cancel();
    await assertInsufficient('/mcp/a', writeOnly, IDP_SCOPE, callEcho('mid-session'), { 'mcp-session-id': session });
    assert.ok(!upstream.calls.some((c) => c.args.text === 'smuggled' || c.args.text === 'mid-session'));
    const ev = events.find((e) => e.type === 'auth.token.rejected' && e.reason === 'insufficient_scope');
    assert.deepEqual(ev && [ev.subject, ev.source], ['user:agent-1', 'jwt']);
  });

  it('per-server lists: a token good for /mcp/a is refused at /mcp/b, which requires more; one with both scopes works there', async () => {
    const forB = await idp.tokenFor(resource('/mcp/b'), { scope: IDP_SCOPE });
    await assertInsufficient('/mcp/b', forB, `${IDP_SCOPE} ${WRITE}`);
    await assertInsufficient('/mcp/b', forB, `${IDP_SCOPE} ${WRITE}`, callEcho('b without write'));
    const both = await idp.tokenFor(resource('/mcp/b'), { scope: `${IDP_SCOPE} ${WRITE}` });
    const { client } = await connectMcp(resource('/mcp/b'), both, 'agent');
    try {
      assert.equal(toolText(await client.callTool({ name: 'echo', arguments: { text: 'b with write' } })), 'b with write');
    } finally {
      await client.close();
    }
  });

  it('the `scp` array form (Entra ID, Okta) counts like `scope`', async () => {
    const both = await idp.tokenFor(resource('/mcp/b'), { scope: `${IDP_SCOPE} ${WRITE}`, scp: true });
    const claims = decodeJwt(both);
    assert.deepEqual([claims.scp, claims.scope], [[IDP_SCOPE, WRITE], undefined], 'the token carries only scp, as an array');
    const ok = await post(resource('/mcp/b'), both, initialize);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    await assertInsufficient('/mcp/b', await idp.tokenFor(resource('/mcp/b'), { scope: IDP_SCOPE, scp: true }), `${IDP_SCOPE} ${WRITE}`);
  });

  it('the aggregated endpoint requires the global list; a member requiring more contributes nothing to a token without it', async () => {
    const forAggregate = await idp.tokenFor(resource('/mcp'), { scope: IDP_SCOPE });
    const { client } = await connectMcp(resource('/mcp'), forAggregate, 'agent');
    try {
      const names = (await client.listTools()).tools.map((x) => x.name);
      assert.ok(names.includes('a__echo') && !names.includes('b__echo'), names.join(','));
      const before = upstreamSeen();
      await assert.rejects(client.callTool({ name: 'b__echo', arguments: { text: 'via aggregate to b' } }));
      assert.equal(upstreamSeen(), before, 'the member that requires files:write saw nothing');
    } finally {
      await client.close();
    }
    await assertInsufficient('/mcp', await idp.tokenFor(resource('/mcp'), { scope: WRITE }), IDP_SCOPE);
    const both = await idp.tokenFor(resource('/mcp'), { scope: `${IDP_SCOPE} ${WRITE}` });
    const full = await connectMcp(resource('/mcp'), both, 'agent');
    try {
      assert.equal(toolText(await full.client.callTool({ name: 'b__echo', arguments: { text: 'b via aggregate' } })), 'b via aggregate');
    } finally {
      await full.client.close();
    }
  });

  it('Portcullis keys are exempt (they carry no scopes; the policy decides what they may do)', async () => {
    const { client } = await connectMcp(resource('/mcp/b'), t.userKey, 'agent');
    try {
      assert.equal(toolText(await client.callTool({ name: 'echo', arguments: { text: 'by key' } })), 'by key');
    } finally {
      await client.close();
    }
  });

  /** The MCP SDK's own client-credentials auth provider: 401 -> metadata -> token for the resource -> retry. */
  async function sdkConnect(scope: string): Promise<Client> {
    const authProvider = new ClientCredentialsProvider({ clientId: IDP_SDK_CLIENT.id, clientSecret: IDP_SDK_CLIENT.secret, scope, expectedIssuer: idp.issuer });
    const client = new Client({ name: 'sdk-auth', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(resource('/mcp/b')), { authProvider }));
    return client;
  }

  it('the SDK client with its auth provider gets in when it asks for the scopes; without them it stops at 403 after one retry', async () => {
    const client = await sdkConnect(`${IDP_SCOPE} ${WRITE}`);
    try {
      assert.equal(toolText(await client.callTool({ name: 'echo', arguments: { text: 'sdk auth' } })), 'sdk auth');
    } finally {
      await client.close();
    }
    // SDK 1.32: on insufficient_scope it runs its auth flow once more with the challenged scope, but a
    // client-credentials provider asks for its configured scope, gets the same token, and gives up.
    const before = upstreamSeen();
    await assert.rejects(sdkConnect(IDP_SCOPE), (err: unknown) => {
      assert.ok(err instanceof StreamableHTTPError, String(err));
      assert.equal(err.code, 403);
      assert.match(err.message, /after trying upscoping/);
      return true;
    });
    assert.equal(upstreamSeen(), before);
  });
});
