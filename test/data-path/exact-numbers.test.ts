import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.ts';
import { compileContentPolicy, type ContentSection } from '../../src/detect/policy-content.ts';
import { createGovernedGuard } from '../../src/governance/guard.ts';
import { templatePreparer } from '../../src/governance/template-preparer.ts';
import { SealedTokenVault } from '../../src/governance/token-vault.ts';
import { pushTemplate, TemplateResolver } from '../../src/policy/templates/index.ts';
import { templateRepoFor } from '../../src/store/template-repo.ts';
import { DEFAULT_ROUTES_YAML, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Every body the gateway rewrites — usage probe, model rewrite of a route, masking, tokenization, template
 * rendering — reaches the provider with the numbers the client wrote, byte for byte, even those a double cannot
 * hold: integers beyond 2^53, 1e400 (would become `null`), -0, long decimals, underflows. The assertion is on the
 * bytes the mock upstream received.
 */
const NUMBERS = '[99999999999999999999,9007199254740993,1e400,-1e400,-0,-0.0,3.14159265358979323846264338327950288,1e-400,0.1000000000000000055511151231257827]';
const BIG = '12345678901234567890123';
const EMAIL = 'jane.doe@example.com';

/** A JSON text built from `value`, with `"__NUMBERS__"` and `"__BIG__"` spliced in as raw number text. */
const spliced = (value: unknown): string => JSON.stringify(value).replaceAll('"__NUMBERS__"', NUMBERS).replaceAll('"__BIG__"', BIG);

describe('bodies the gateway rewrites keep the client\'s numbers exactly', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway({
      routesYaml: `${DEFAULT_ROUTES_YAML}
  - model: renamed-claude
    provider: anthropic
    upstream_model: claude-mock-upstream`,
    });
    const repo = templateRepoFor(t.gw.store);
    await pushTemplate(repo, { id: 'greet', description: 'd', params: { name: { type: 'string', max_length: 50 } }, messages: [{ role: 'user', content: 'Hello {{name}}' }] }, { at: Date.now(), by: 'test' });
  });
  after(() => t.close());

  const guard = (content?: ContentSection) => t.gw.setGuard(createGovernedGuard({
    content: content ? compileContentPolicy(content) : undefined,
    decider: undefined,
    prepare: templatePreparer(new TemplateResolver({ repo: templateRepoFor(t.gw.store) })),
    vault: new SealedTokenVault({ repo: t.gw.store.tokenVault, keyring: t.gw.keyring, clock: systemClock, ttlMs: 60_000 }),
  }));

  /** Sends `body` (JSON text), returns the text the provider received. */
  const send = async (path: string, body: string, headers: Record<string, string> = {}): Promise<string> => {
    const before = t.mock.received.length;
    const res = await fetch(`${t.gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.userKey}`, ...headers }, body });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal(t.mock.received.length, before + 1);
    return t.mock.received.at(-1)!.rawBody;
  };
  const assertNumbersKept = (sent: string, what: string): void => {
    assert.ok(sent.includes(`"numbers":${NUMBERS}`), `${what}: numbers changed in ${sent.slice(0, 400)}`);
    assert.ok(!sent.includes('null'), `${what}: a number became null`);
  };

  const chatBody = (model: string, content: string, extra: Record<string, unknown> = {}) => spliced({
    model, max_tokens: '__BIG__', seed: '__BIG__', numbers: '__NUMBERS__', ...extra,
    messages: [
      { role: 'user', content },
      { role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'lookup', arguments: `{"account":${BIG},"owner":"${EMAIL}","ratio":-0}` } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'ok' },
    ],
  });

  it('usage probe (streamed chat and completions) and a route\'s model rewrite', async () => {
    guard();
    let sent = await send('/v1/chat/completions', chatBody('gpt-4o', 'hi', { stream: true }));
    assert.match(sent, /"stream_options":\{"include_usage":true\}/, 'the probe did rewrite the body');
    assertNumbersKept(sent, 'usage probe, chat');
    assert.ok(sent.includes(`"max_tokens":${BIG},"seed":${BIG}`));
    sent = await send('/v1/completions', spliced({ model: 'gpt-4o', prompt: 'hi', stream: true, max_tokens: '__BIG__', numbers: '__NUMBERS__' }));
    assertNumbersKept(sent, 'usage probe, completions');
    sent = await send('/v1/chat/completions', chatBody('renamed-model', 'hi'));
    assert.match(sent, /"model":"gpt-4o-upstream"/);
    assertNumbersKept(sent, 'reroute, chat');
    sent = await send('/v1/messages', spliced({ model: 'renamed-claude', max_tokens: '__BIG__', numbers: '__NUMBERS__', messages: [{ role: 'user', content: 'hi' }] }));
    assert.match(sent, /"model":"claude-mock-upstream"/);
    assert.ok(sent.includes(`"max_tokens":${BIG}`));
    assertNumbersKept(sent, 'reroute, anthropic');
  });

  for (const action of ['mask', 'tokenize'] as const) {
    it(`${action}: chat (incl. tool-call arguments), responses, completions, embeddings, anthropic messages (incl. tool_use input)`, async () => {
      guard({ rules: [{ id: 'pii', types: ['EMAIL_ADDRESS'], action }] });
      const cases: [string, string][] = [
        ['/v1/chat/completions', chatBody('gpt-4o', `mail ${EMAIL}`)],
        ['/v1/responses', spliced({ model: 'gpt-4o', max_output_tokens: '__BIG__', numbers: '__NUMBERS__', input: `mail ${EMAIL}` })],
        ['/v1/completions', spliced({ model: 'gpt-4o', max_tokens: '__BIG__', numbers: '__NUMBERS__', prompt: `mail ${EMAIL}` })],
        ['/v1/embeddings', spliced({ model: 'text-embedding-3-small', dimensions: '__BIG__', numbers: '__NUMBERS__', input: `mail ${EMAIL}` })],
        ['/v1/messages', spliced({
          model: 'claude-mock-1', max_tokens: '__BIG__', numbers: '__NUMBERS__',
          messages: [
            { role: 'user', content: `mail ${EMAIL}` },
            { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'lookup', input: { account: '__BIG__', owner: EMAIL, all: '__NUMBERS__' } }] },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'ok' }] },
          ],
        })],
      ];
      for (const [path, body] of cases) {
        const sent = await send(path, body);
        assert.ok(!sent.includes(EMAIL), `${path}: the ${action} rule did rewrite the body`);
        assertNumbersKept(sent, `${action} ${path}`);
        assert.ok(sent.includes(BIG), `${path}: the big integer`);
      }
      const chat = await send('/v1/chat/completions', chatBody('gpt-4o', `mail ${EMAIL}`));
      const args = (JSON.parse(chat) as { messages: { tool_calls?: { function: { arguments: string } }[] }[] }).messages[1]!.tool_calls![0]!.function.arguments;
      assert.ok(args.startsWith(`{"account":${BIG},"owner":"`) && args.endsWith('","ratio":-0}'), `tool-call arguments keep their numbers: ${args}`);
      const anthropic = await send('/v1/messages', spliced({
        model: 'claude-mock-1', max_tokens: 5,
        messages: [{ role: 'user', content: `mail ${EMAIL}` }, { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'lookup', input: { account: '__BIG__', all: '__NUMBERS__' } }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'ok' }] }],
      }));
      assert.ok(anthropic.includes(`"input":{"account":${BIG},"all":${NUMBERS}}`), 'tool_use input keeps its numbers');
    });
  }

  it('answers a response rule rewrites keep their numbers (JSON and SSE; OpenAI chat, Responses, Anthropic)', async () => {
    guard({ rules: [{ id: 'pii-out', types: ['EMAIL_ADDRESS'], direction: 'response', action: 'mask' }] });
    const cases: [string, string, boolean][] = [
      ['/v1/chat/completions', spliced({ model: 'gpt-4o', x_unknown_field: '__NUMBERS__', messages: [{ role: 'user', content: `mail ${EMAIL}` }] }), false],
      ['/v1/chat/completions', spliced({ model: 'gpt-4o', stream: true, x_unknown_field: '__NUMBERS__', messages: [{ role: 'user', content: `mail ${EMAIL}` }] }), true],
      ['/v1/responses', spliced({ model: 'gpt-4o', x_unknown_field: '__NUMBERS__', input: `mail ${EMAIL}` }), false],
      ['/v1/messages', spliced({ model: 'claude-mock-1', max_tokens: 50, x_unknown_field: '__NUMBERS__', messages: [{ role: 'user', content: `mail ${EMAIL}` }] }), false],
    ];
    for (const [path, body, stream] of cases) {
      const res = await fetch(`${t.gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.userKey}` }, body });
      const answer = await res.text();
      assert.equal(res.status, 200, answer);
      assert.ok(answer.includes('[EMAIL_ADDRESS]') && !answer.includes(EMAIL), `${path} (stream ${stream}): the answer was rewritten`);
      assert.ok(answer.includes(`"x_unknown_echo":${NUMBERS}`), `${path} (stream ${stream}): numbers changed in ${answer.slice(0, 300)}`);
    }
  });

  it('template rendering (OpenAI header and Anthropic metadata forms)', async () => {
    guard();
    const headers = { 'x-portcullis-template': 'greet', 'x-portcullis-template-vars': '{"name":"Ada"}' };
    let sent = await send('/v1/chat/completions', spliced({ model: 'gpt-4o', max_tokens: '__BIG__', numbers: '__NUMBERS__', messages: [] }), headers);
    assert.match(sent, /Hello Ada/);
    assertNumbersKept(sent, 'template, chat');
    sent = await send('/v1/messages', spliced({ model: 'claude-mock-1', max_tokens: '__BIG__', numbers: '__NUMBERS__', messages: [], metadata: { portcullis_template: 'greet', portcullis_template_vars: '{"name":"Ada"}' } }));
    assert.match(sent, /Hello Ada/);
    assert.ok(sent.includes(`"max_tokens":${BIG}`));
    assertNumbersKept(sent, 'template, anthropic');
  });
});
