import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { createApiKey } from '../../src/identity/key-service.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { runBin } from './bin.ts';
import { assertTerminalSafe } from './terminal.ts';

/**
 * `portcullis analytics identities` as a user runs it (the real binary against a running gateway): the identities
 * and groups seen, from GET /admin/v1/analytics/identities; a name and a group carrying terminal controls (an IdP
 * or a key record says what they are) come out escaped, and exact in --json.
 */
const HOSTILE = '\x1b[2J\x1b]0;pwned\x07\rforged\u009b31m\u202eevil';

describe('portcullis analytics identities', () => {
  let t: TestGateway;

  const run = (args: string[]) => runBin(['analytics', 'identities', ...args], { env: { PATH: process.env.PATH, HOME: t.dir, PORTCULLIS_GATEWAY: t.gw.url, PORTCULLIS_TOKEN: t.adminKey } });

  before(async () => {
    t = await startTestGateway({ extraYaml: 'auth:\n  key_cache_ttl_ms: 0\n  roles: { admin: [portcullis-admins], user: [eng, ops] }\n' });
    const mallory = (await createApiKey(t.gw.store.apiKeys, { name: `mallory${HOSTILE}`, kind: 'user', groups: ['eng', `ops${HOSTILE}`], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    for (const key of [t.userKey, mallory, mallory]) {
      await new OpenAI({ baseURL: t.openaiBase, apiKey: key, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    }
    // The records are finished after the answers: wait until the endpoint counts all three.
    await eventually(async () => {
      const r = (await (await fetch(`${t.gw.url}/admin/v1/analytics/identities`, { headers: { authorization: `Bearer ${t.adminKey}` } })).json()) as { identities: { requests: number }[] };
      return r.identities.reduce((n, i) => n + i.requests, 0) === 3 || undefined;
    });
  });
  after(() => t?.close());

  it('prints identities and groups seen, controls escaped; --json keeps the exact values', async () => {
    const human = await run([]);
    assert.equal(human.code, 0, human.err);
    assertTerminalSafe(human.out, 'analytics identities');
    assertTerminalSafe(human.err, 'analytics identities (stderr)');
    const lines = human.out.split('\n');
    const mallory = lines.find((l) => l.includes('mallory'));
    assert.ok(mallory, human.out);
    assert.match(mallory, /\\x1b\[2J/, 'the ESC in the name is shown escaped');
    assert.match(mallory, /^user\s/);
    assert.match(mallory, /\s2 openai-js\(2\)$/, 'requests, then the client tools with theirs');
    assert.ok(lines.some((l) => /^eng\s+2\s/.test(l)), `group eng: two members\n${human.out}`);
    assert.ok(lines.some((l) => l.startsWith('ops\\x1b')), 'the hostile group is listed escaped');

    const json = await run(['--json']);
    assert.equal(json.code, 0, json.err);
    assertTerminalSafe(json.out, 'analytics identities --json');
    const body = JSON.parse(json.out) as { identities: { name: string; groups: string[]; requests: number; clients: { client: string }[] }[]; groups: { group: string }[]; truncated: boolean };
    const m = body.identities.find((i) => i.name.startsWith('mallory'))!;
    assert.equal(m.name, `mallory${HOSTILE}`);
    assert.deepEqual(m.groups, ['eng', `ops${HOSTILE}`]);
    assert.equal(m.requests, 2);
    assert.deepEqual(m.clients.map((c) => c.client), ['openai-js']);
    assert.deepEqual(body.groups.map((g) => g.group).sort(), ['eng', `ops${HOSTILE}`].sort());
    assert.equal(body.truncated, false);

    const one = JSON.parse((await run(['--json', '--limit', '1'])).out) as { identities: unknown[]; groups: unknown[]; truncated: boolean };
    assert.equal(one.identities.length, 1);
    assert.equal(one.groups.length, 1);
    assert.equal(one.truncated, true, 'what --limit left out is said');
    assert.equal((await run(['--limit', 'x'])).code, 2);
  });
});
