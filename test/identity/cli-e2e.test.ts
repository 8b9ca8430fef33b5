import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { Browser, startTestIdp, type TestIdp } from './oidc-idp.ts';

const BIN = join(import.meta.dirname, '../../bin/portcullis.js');

/** Runs the real CLI in a pseudo-terminal (util-linux `script`), collecting output; resolves with the exit code. */
function runInPty(args: string[], env: NodeJS.ProcessEnv, onOutput?: (all: string) => void): Promise<{ code: number; out: string }> {
  const cmd = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const add = (b: Buffer): void => {
    out += b.toString();
    onOutput?.(out);
  };
  child.stdout.on('data', add);
  child.stderr.on('data', add);
  return new Promise((ok) => child.on('exit', (code) => ok({ code: code ?? -1, out })));
}

describe('CLI: login --device, whoami, env, exec, logout in a terminal', () => {
  let idp: TestIdp;
  let t: TestGateway;
  let env: NodeJS.ProcessEnv;
  const probe = async (token: string): Promise<number> => (await fetch(`${t.gw.url}/auth/whoami`, { headers: { authorization: `Bearer ${token}` } })).status;

  before(async () => {
    // The device flow needs no redirect URI; the real gateway (src/main.ts) serves /auth/* and the data path.
    idp = await startTestIdp({ redirectUris: ['http://127.0.0.1/unused'] });
    t = await startTestGateway({
      extraYaml: `identity:\n  oidc:\n    - { name: corp, issuer: ${idp.issuer}, client_id: portcullis, client_secret: portcullis-secret, scopes: [openid, email, groups, offline_access], subject_claim: email }\n`,
    });
    idp.accounts.set('dana', { email: 'dana@corp.example', groups: ['eng', 'ml'] });
    env = { ...process.env, XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'pcl-cli-')), PORTCULLIS_GATEWAY: t.gw.url };
  });
  after(async () => {
    await t?.close();
    await idp?.close();
  });

  it('signs in with the device flow and stores a 0600 credentials file', async () => {
    let driven = false;
    const res = await runInPty(['login', '--device'], env, (all) => {
      const m = /\(or open (\S+)\)/.exec(all);
      if (m && !driven) {
        driven = true;
        void new Browser().drive(m[1]!, { login: 'dana' });
      }
    });
    assert.equal(res.code, 0, res.out);
    assert.match(res.out, /Signed in as user:dana@corp\.example \(groups: eng, ml\)/);
    const file = join(env.XDG_CONFIG_HOME!, 'portcullis', 'credentials.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(!res.out.includes('pct_'), 'the token is never printed by login');
  });

  it('whoami and env', async () => {
    const who = await runInPty(['whoami'], env);
    assert.equal(who.code, 0, who.out);
    assert.match(who.out, /user:dana@corp\.example/);
    const e = await runInPty(['env'], env);
    assert.match(e.out, new RegExp(`export OPENAI_BASE_URL='${t.gw.url}/v1'`));
    assert.match(e.out, /export ANTHROPIC_API_KEY='pct_/);
  });

  it('the stored login token is never sent to another gateway (--gateway elsewhere is refused before any request)', async () => {
    const seen: (string | undefined)[] = [];
    const other = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}');
    });
    await new Promise<void>((ok) => other.listen(0, '127.0.0.1', ok));
    try {
      const elsewhere = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      const r = await runInPty(['approvals', 'list', '--gateway', elsewhere], env);
      assert.equal(r.code, 2, r.out);
      assert.match(r.out, /you are signed in to http:\/\/127\.0\.0\.1:\d+, not http:\/\/127\.0\.0\.1/);
      assert.deepEqual(seen, [], 'no request reached the other host');
      const mine = await runInPty(['approvals', 'list'], env);
      assert.equal(mine.code, 0, mine.out);
    } finally {
      other.close();
    }
  });

  it('exec runs an unchanged OpenAI SDK program through the gateway, recorded as the signed-in user; exit code forwarded', async () => {
    // The program knows nothing of Portcullis: the SDK reads OPENAI_BASE_URL and OPENAI_API_KEY set by exec.
    const script = "const OpenAI = require('openai').default; new OpenAI({ maxRetries: 0 }).chat.completions"
      + ".create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'from exec' }] }).withResponse()"
      + ".then(({ response }) => { console.log('EXCHANGE', response.headers.get('x-portcullis-exchange-id')); process.exit(7); }, (e) => { console.error(e); process.exit(1); })";
    const r = await runInPty(['exec', '--', process.execPath, '-e', script], env);
    assert.equal(r.code, 7, r.out);
    const id = /EXCHANGE (\S+)/.exec(r.out)![1]!;
    const row = await finishedExchange(t.gw, id);
    assert.equal(row.status, 'completed');
    assert.equal(row.subject, 'user:dana@corp.example');
    assert.deepEqual((row.principal as { groups: string[] }).groups, ['eng', 'ml']);
  });

  it('logout revokes the session at the gateway', async () => {
    const e = await runInPty(['env'], env);
    const token = /OPENAI_API_KEY='([^']+)'/.exec(e.out)![1]!;
    const out = await runInPty(['logout'], env);
    assert.equal(out.code, 0, out.out);
    assert.equal(await probe(token), 401);
    assert.ok(!existsSync(join(env.XDG_CONFIG_HOME!, 'portcullis', 'credentials.json')));
  });
});
