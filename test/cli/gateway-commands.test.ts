import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { runCli } from '../../src/cli/main.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { runBin } from './bin.ts';
import { assertTerminalSafe } from './terminal.ts';

/**
 * Commands that talk to a running gateway pick gateway and credential one way (src/cli/admin-target.ts):
 * --gateway / PORTCULLIS_GATEWAY / stored login; --key-file / PORTCULLIS_TOKEN / stored login token. Each of
 * whoami, env and exec is run with each source while a login for someone else is stored, so a command that
 * ignored the source would act as the wrong person. And what such commands print from the gateway (policy
 * messages, approval reasons, error messages) reaches the terminal escaped.
 */
const HOSTILE = '\x1b[2J\x1b]0;pwned\x07\rforged line\u009b31m\u202eevil';

describe('gateway commands: one way to pick the credential; gateway text escaped', () => {
  let t: TestGateway;
  let dir: string;
  let bobKey: string;
  /** A stored `portcullis login` for bob: the decoy every explicit source must win over. */
  let storedBob: string;

  const run = async (argv: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const stdout = new PassThrough().on('data', (d: Buffer) => (out += d.toString()));
    const stderr = new PassThrough().on('data', (d: Buffer) => (err += d.toString()));
    const code = await runCli(argv, { stdin: new PassThrough(), stdout, stderr, env: { PORTCULLIS_CREDENTIALS: storedBob, ...env }, cwd: dir });
    return { code, out, err };
  };
  /** `exec` hands the terminal to the child: run the real binary; the child asks the gateway who it is. */
  const exec = (flags: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> => {
    const script = "const b=process.env.ANTHROPIC_BASE_URL; fetch(b+'/auth/whoami',{headers:{authorization:'Bearer '+process.env.OPENAI_API_KEY}})"
      + ".then(r=>r.json()).then(j=>console.log('AS', j.subject, process.env.OPENAI_BASE_URL===b+'/v1'))";
    return runBin(['exec', ...flags, '--', process.execPath, '-e', script], { cwd: dir, env: { PATH: process.env.PATH, HOME: dir, PORTCULLIS_CREDENTIALS: storedBob, ...env } });
  };

  before(async () => {
    t = await startTestGateway({
      extraYaml: `
auth:
  key_cache_ttl_ms: 0
  roles: { admin: [portcullis-admins], approver: [sec], user: [eng, ops, sec] }
`,
    });
    dir = mkdtempSync(join(tmpdir(), 'pcl-cli-gw-'));
    bobKey = (await createApiKey(t.gw.store.apiKeys, { name: 'bob', kind: 'user', groups: ['sec'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    storedBob = join(dir, 'credentials.json');
    writeFileSync(storedBob, JSON.stringify({ gateway: t.gw.url, access_token: bobKey, expires_at: Date.now() + 3_600_000, subject: 'user:bob', groups: ['sec'] }), { mode: 0o600 });
    writeFileSync(join(dir, 'alice.key'), t.userKey + '\n', { mode: 0o600 });
  });
  after(() => t?.close());

  const SOURCES: { name: string; flags: string[]; env: () => Record<string, string>; expect: string }[] = [
    { name: '--key-file and --gateway', flags: ['--key-file', 'alice.key', '--gateway', ''], env: () => ({}), expect: 'user:alice' },
    { name: 'PORTCULLIS_TOKEN and PORTCULLIS_GATEWAY', flags: [], env: () => ({ PORTCULLIS_TOKEN: t.userKey, PORTCULLIS_GATEWAY: t.gw.url }), expect: 'user:alice' },
    { name: 'the stored login', flags: [], env: () => ({}), expect: 'user:bob' },
  ];
  const flagsOf = (s: (typeof SOURCES)[number]): string[] => s.flags.map((f) => (f === '' ? t.gw.url : f));

  for (const s of SOURCES) {
    it(`whoami, env and exec use ${s.name}`, async () => {
      const who = await run(['whoami', '--json', ...flagsOf(s)], s.env());
      assert.equal(who.code, 0, who.err);
      assert.equal((JSON.parse(who.out) as { subject: string }).subject, s.expect);
      const env = await run(['env', ...flagsOf(s)], s.env());
      assert.equal(env.code, 0, env.err);
      const token = /export OPENAI_API_KEY='([^']+)'/.exec(env.out)?.[1];
      assert.equal(token, s.expect === 'user:bob' ? bobKey : t.userKey);
      assert.match(env.out, new RegExp(`export ANTHROPIC_BASE_URL='${t.gw.url}'`));
      const ran = await exec(flagsOf(s), s.env());
      assert.equal(ran.code, 0, ran.err);
      assert.match(ran.out, new RegExp(`AS ${s.expect} true`));
    });
  }

  it('a token from the environment without a gateway anywhere is a usage error, not a request to a default host', async () => {
    const r = await run(['whoami'], { PORTCULLIS_TOKEN: t.userKey, PORTCULLIS_CREDENTIALS: join(dir, 'none.json') });
    assert.equal(r.code, 2);
    assert.match(r.err, /give --gateway URL or PORTCULLIS_GATEWAY/);
  });

  it('policy messages, approval reasons and gateway errors are printed escaped', async () => {
    const admin = { PORTCULLIS_TOKEN: t.adminKey, PORTCULLIS_GATEWAY: t.gw.url };
    const policy = 'version: 1\nrules:\n  - { id: eng, effect: allow, subjects: { groups: [eng] } }\n  - id: ops-held\n    effect: require_approval\n    subjects: { groups: [ops] }\n    approval: { mode: deferred, approver_groups: [sec] }\n';
    writeFileSync(join(dir, 'p.yaml'), policy);
    const pushed = await fetch(`${t.gw.url}/admin/v1/policies`, { method: 'POST', headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ source: policy, message: `msg ${HOSTILE}` }) });
    assert.equal(pushed.status, 201);
    const id = ((await pushed.json()) as { id: string }).id;
    assert.equal((await run(['policy', 'activate', id], admin)).code, 0);
    // A YAML key written with escapes (`"\e]0;…\a"`) comes back inside the gateway's validation error.
    writeFileSync(join(dir, 'bad.yaml'), `${policy}"\\e]0;pwned\\a": 1\n`);

    const ops = (await createApiKey(t.gw.store.apiKeys, { name: 'olga', kind: 'user', groups: ['ops'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    await assert.rejects(new OpenAI({ baseURL: t.openaiBase, apiKey: ops, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }));
    const bob = { PORTCULLIS_TOKEN: bobKey, PORTCULLIS_GATEWAY: t.gw.url };
    const list = JSON.parse((await run(['approvals', 'list', '--json'], bob)).out) as { id: string }[];
    assert.ok(list[0], 'the held request is listed');
    const denied = await run(['approvals', 'deny', list[0].id, '--reason', `no ${HOSTILE}`], bob);
    assert.equal(denied.code, 0, denied.err);

    for (const [argv, env] of [
      [['policy', 'history'], admin], [['policy', 'show'], admin], [['policy', 'show', '--json'], admin], [['policy', 'push', 'bad.yaml', '-m', 'x'], admin],
      [['approvals', 'list'], bob], [['approvals', 'show', list[0].id], bob], [['approvals', 'status', list[0].id], bob], [['approvals', 'show', list[0].id, '--json'], bob],
    ] as [string[], Record<string, string>][]) {
      const r = await run(argv, env);
      assertTerminalSafe(r.out + r.err, `portcullis ${argv.join(' ')}`);
      if (argv[1] !== 'list') assert.match(r.out + r.err, /\\x1b|\\u001b|\\x9b|\\u009b/, `portcullis ${argv.join(' ')} shows the escapes`);
    }
  });
});
