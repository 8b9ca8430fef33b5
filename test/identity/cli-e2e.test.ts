import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startHarness, type Harness } from './harness.ts';
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
  let h: Harness;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    h = await startHarness({
      identityYaml: async (url) => {
        idp = await startTestIdp({ redirectUris: [`${url}/auth/oidc/corp/callback`] });
        return `oidc:\n  - { name: corp, issuer: ${idp.issuer}, client_id: portcullis, client_secret: portcullis-secret, scopes: [openid, email, groups, offline_access], subject_claim: email }\n`;
      },
    });
    idp.accounts.set('dana', { email: 'dana@corp.example', groups: ['eng', 'ml'] });
    env = { ...process.env, XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'pcl-cli-')), PORTCULLIS_GATEWAY: h.url };
  });
  after(async () => {
    await h.close();
    await idp.close();
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
    assert.match(e.out, new RegExp(`export OPENAI_BASE_URL='${h.url}/v1'`));
    assert.match(e.out, /export ANTHROPIC_API_KEY='pct_/);
  });

  it('exec runs the tool with the gateway env and forwards its exit code', async () => {
    const script = "fetch(process.env.ANTHROPIC_BASE_URL + '/auth/whoami', { headers: { authorization: 'Bearer ' + process.env.OPENAI_API_KEY } })"
      + ".then((r) => r.json()).then((j) => { console.log('IDENTITY', j.subject, j.groups.join(',')); process.exit(j.subject && process.env.OPENAI_BASE_URL.endsWith('/v1') ? 7 : 1); })";
    const r = await runInPty(['exec', '--', process.execPath, '-e', script], env);
    assert.equal(r.code, 7, r.out);
    assert.match(r.out, /IDENTITY user:dana@corp\.example eng,ml/);
  });

  it('logout revokes the session at the gateway', async () => {
    const e = await runInPty(['env'], env);
    const token = /OPENAI_API_KEY='([^']+)'/.exec(e.out)![1]!;
    const out = await runInPty(['logout'], env);
    assert.equal(out.code, 0, out.out);
    assert.equal((await h.probe(token)).status, 401);
    assert.ok(!existsSync(join(env.XDG_CONFIG_HOME!, 'portcullis', 'credentials.json')));
  });
});
