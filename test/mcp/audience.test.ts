import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { connectMcp, policyYaml, toolText } from './fixture.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { bearerIdentityYaml, ENG_MAY_USE_A_AND_B, IDP_SCOPE, INITIALIZE as initialize, postMcp as post, startResourceIdp, type ResourceIdp } from './resource-idp.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';

/**
 * Issue #14 item 2: audience-bound tokens (MCP authorization §Token Audience Binding and Validation, RFC 8707, RFC
 * 9728). A real authorization server (oidc-provider, resource indicators on) issues JWTs for `/mcp/a`, for `/mcp/b`,
 * for the aggregated `/mcp` and for the gateway's LLM audience. Each opens only the resource it was issued for; the
 * attacks (another server's token, the LLM token, a token swapped mid-session) get 401 with the RFC 6750/9728
 * challenge and nothing reaches the upstream server; the real SDK client with the right token works, and the
 * client's token never goes upstream.
 */
const TOKEN = 'audience-upstream-token-' + 'q'.repeat(16);
const LLM_AUDIENCE = 'https://llm.portcullis.test/';

/** The IdP, the upstream MCP server and a gateway whose `mcp:` section is `mcpYaml(idp, upstream URL)`, started in `before`. */
function audienceFixture(mcpYaml: (idp: ResourceIdp, upstreamUrl: string) => string): { idp: () => ResourceIdp; upstream: () => UpstreamMcp; t: () => TestGateway } {
  let idp: ResourceIdp;
  let upstream: UpstreamMcp;
  let t: TestGateway;
  before(async () => {
    idp = await startResourceIdp();
    upstream = await startUpstreamMcp({ token: TOKEN });
    process.env.PCL_TEST_AUD_TOKEN = TOKEN;
    t = await startTestGateway({ extraYaml: `${bearerIdentityYaml(idp, LLM_AUDIENCE)}${policyYaml(ENG_MAY_USE_A_AND_B)}mcp:\n${mcpYaml(idp, upstream.url)}` });
  });
  after(async () => {
    await t?.close();
    await upstream?.close();
    await idp?.close();
  });
  return { idp: () => idp, upstream: () => upstream, t: () => t };
}

describe('MCP: audience-bound tokens (mcp.audience: resource, the default)', () => {
  let idp: ResourceIdp;
  let upstream: UpstreamMcp;
  let t: TestGateway;
  const f = audienceFixture((i, url) => `  authorization_servers: ["${i.issuer}"]
  scopes_supported: ["${IDP_SCOPE}"]
  aggregate: { path: /mcp }
  servers:
    - { name: a, url: "${url}", credential: "env:PCL_TEST_AUD_TOKEN" }
    - { name: b, url: "${url}", credential: "env:PCL_TEST_AUD_TOKEN" }
`);
  before(() => {
    [idp, upstream, t] = [f.idp(), f.upstream(), f.t()];
  });

  const resource = (path: string): string => `${t.gw.url}${path}`;
  /** Everything the upstream server has seen so far (calls and HTTP requests), to prove an attack reached none of it. */
  const upstreamSeen = (): string => JSON.stringify([upstream.calls.length, upstream.authorizations.length]);

  /** The attack: a 401 with `error="invalid_token"` and the endpoint's metadata, and the upstream untouched. */
  async function assertRefused(path: string, token: string, body: unknown = initialize, headers: Record<string, string> = {}): Promise<void> {
    const before = upstreamSeen();
    const r = await post(resource(path), token, body, headers);
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'), `Bearer error="invalid_token", resource_metadata="${t.gw.url}/.well-known/oauth-protected-resource${path}"`);
    const answer = await r.json() as { error: { message: string; data: { portcullis: { code: string } } } };
    assert.equal(answer.error.data.portcullis.code, 'unauthenticated');
    assert.match(answer.error.message, new RegExp(`not issued for this MCP server: request one for the resource ${resource(path).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    assert.equal(upstreamSeen(), before, 'nothing reached the upstream server');
  }

  it('the protected resource metadata names the resource (the audience), the authorization server, the bearer method and the scopes', async () => {
    for (const path of ['/mcp/a', '/mcp']) {
      const r = await fetch(`${t.gw.url}/.well-known/oauth-protected-resource${path}`);
      assert.equal(r.status, 200);
      const meta = await r.json() as Record<string, unknown>;
      assert.equal(meta.resource, resource(path));
      assert.deepEqual(meta.authorization_servers, [idp.issuer]);
      assert.deepEqual(meta.bearer_methods_supported, ['header']);
      assert.deepEqual(meta.scopes_supported, [IDP_SCOPE]);
    }
  });

  it('the SDK client with a token issued for /mcp/a works there, and that token never goes upstream', async () => {
    const token = await idp.tokenFor(resource('/mcp/a'));
    const { client } = await connectMcp(resource('/mcp/a'), token, 'agent');
    try {
      assert.ok((await client.listTools()).tools.some((x) => x.name === 'echo'));
      assert.equal(toolText(await client.callTool({ name: 'echo', arguments: { text: 'hello' } })), 'hello');
    } finally {
      await client.close();
    }
    assert.deepEqual(upstream.calls.at(-1), { tool: 'echo', args: { text: 'hello' } });
    assert.ok(upstream.authorizations.length > 0);
    assert.ok(upstream.authorizations.every((a) => a === `Bearer ${TOKEN}`), 'only the gateway\'s own credential reaches the server');
    const rows = await t.gw.store.exchanges.list({ model: 'echo', limit: 10 });
    assert.equal(rows[0]?.subject, 'user:agent-1', 'the call is recorded under the token\'s identity');
  });

  it('the attack: a token issued for /mcp/b is refused at /mcp/a (and works at /mcp/b)', async () => {
    const forB = await idp.tokenFor(resource('/mcp/b'));
    await assertRefused('/mcp/a', forB);
    await assertRefused('/mcp/a', forB, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'smuggled' } } });
    const ok = await post(resource('/mcp/b'), forB, initialize);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  });

  it('the attack: a token issued for the LLM endpoints is refused on MCP, though /v1 accepts it', async () => {
    const llm = await idp.tokenFor(LLM_AUDIENCE);
    await assertRefused('/mcp/a', llm);
    await assertRefused('/mcp', llm);
    const openai = new OpenAI({ apiKey: llm, baseURL: t.openaiBase });
    const chat = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(chat.choices.length > 0, 'the token itself is valid: it is the audience that does not fit');
  });

  it('the converse: a token issued for /mcp/a does not open the LLM endpoints', async () => {
    const forA = await idp.tokenFor(resource('/mcp/a'));
    const r = await fetch(`${t.openaiBase}/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${forA}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(r.status, 401);
    await r.body?.cancel();
  });

  it('the attack: swapping in another server\'s token in the middle of a session is refused before anything is forwarded', async () => {
    const forA = await idp.tokenFor(resource('/mcp/a'));
    const init = await post(resource('/mcp/a'), forA, initialize);
    assert.equal(init.status, 200);
    const session = init.headers.get('mcp-session-id')!;
    await init.body?.cancel();
    const forB = await idp.tokenFor(resource('/mcp/b'));
    await assertRefused('/mcp/a', forB, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'mid-session' } } }, { 'mcp-session-id': session });
    assert.ok(!upstream.calls.some((c) => c.args.text === 'mid-session'));
  });

  it('the aggregated endpoint is its own resource: its token works there (and through to the members), a member\'s token does not', async () => {
    const forAggregate = await idp.tokenFor(resource('/mcp'));
    const { client } = await connectMcp(resource('/mcp'), forAggregate, 'agent');
    try {
      assert.equal(toolText(await client.callTool({ name: 'a__echo', arguments: { text: 'via aggregate' } })), 'via aggregate');
    } finally {
      await client.close();
    }
    await assertRefused('/mcp', await idp.tokenFor(resource('/mcp/a')));
    await assertRefused('/mcp/a', forAggregate);
  });

  it('Portcullis keys (not JWTs for an audience) stay valid on every MCP endpoint', async () => {
    const { client } = await connectMcp(resource('/mcp/b'), t.userKey, 'agent');
    try {
      assert.equal(toolText(await client.callTool({ name: 'echo', arguments: { text: 'by key' } })), 'by key');
    } finally {
      await client.close();
    }
  });
});

describe('MCP: audience-bound tokens (mcp.audience: identity, and a server\'s own audience list)', () => {
  let idp: ResourceIdp;
  let upstream: UpstreamMcp;
  let t: TestGateway;
  const f = audienceFixture((_i, url) => `  audience: identity
  servers:
    - { name: a, url: "${url}", credential: "env:PCL_TEST_AUD_TOKEN", audience: ["api://mcp-a"] }
    - { name: b, url: "${url}", credential: "env:PCL_TEST_AUD_TOKEN" }
`);
  before(() => {
    [idp, upstream, t] = [f.idp(), f.upstream(), f.t()];
  });

  const status = async (path: string, token: string): Promise<number> => {
    const r = await post(`${t.gw.url}${path}`, token, initialize);
    await r.body?.cancel();
    return r.status;
  };

  it('identity: the LLM audience is accepted on MCP too; resource-bound tokens still open only their resource', async () => {
    const llm = await idp.tokenFor(LLM_AUDIENCE);
    assert.equal(await status('/mcp/a', llm), 200);
    assert.equal(await status('/mcp/b', llm), 200);
    const forB = await idp.tokenFor(`${t.gw.url}/mcp/b`);
    assert.equal(await status('/mcp/b', forB), 200);
    assert.equal(await status('/mcp/a', forB), 401);
  });

  it('a server\'s `audience` list: a token for api://mcp-a opens /mcp/a and not /mcp/b', async () => {
    const forA = await idp.tokenFor('api://mcp-a');
    const { client } = await connectMcp(`${t.gw.url}/mcp/a`, forA, 'agent');
    try {
      assert.equal(toolText(await client.callTool({ name: 'echo', arguments: { text: 'api aud' } })), 'api aud');
    } finally {
      await client.close();
    }
    const before = upstream.authorizations.length;
    assert.equal(await status('/mcp/b', forA), 401);
    assert.equal(upstream.authorizations.length, before);
  });
});
