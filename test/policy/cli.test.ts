import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startPolicyGateway, type PolicyGateway } from './harness.ts';

/** `portcullis policy …` as a security engineer runs it: the real binary in its own process, against the admin API. */
const BIN = new URL('../../bin/portcullis.js', import.meta.url).pathname;

const GOOD = `version: 1
rules:
  - id: eng
    effect: allow
    subjects: { groups: [eng] }
    resources: { models: [gpt-4o] }
`;
const STRICTER = GOOD.replace('[gpt-4o]', '[gpt-4o-mini]');
const BAD = `version: 1
rules:
  - id: eng
    effect: allow
    resources: { modles: [gpt-4o] }
  - id: cel
    effect: deny
    when: request.model.startsWith(
`;

const TYPO = `version: 1
rules:
  - id: mini-only-for-eng
    effect: deny
    subjects: { groups: [eng] }
    when: request.modle == "gpt-4o-mini"
`;

/** Valid to the policy schema, wrong for the modules that own the parts: approval options, budgets, content. */
const MODULE_ERRORS = `version: 1
rules:
  - id: hold
    effect: require_approval
    approval: { approver_groups: [], quorum: 0 }
budgets:
  limits:
    - { id: x, per: planet, requests_per_minute: 5 }
content:
  rules:
    - { id: m, types: [NO_SUCH_TYPE], action: mask }
`;

describe('portcullis policy (CLI)', () => {
  let g: PolicyGateway;
  let dir: string;
  let env: Record<string, string>;
  const run = (...args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, [BIN, 'policy', ...args], { cwd: dir, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdin.end();
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });

  before(async () => {
    g = await startPolicyGateway();
    dir = mkdtempSync(join(tmpdir(), 'pcl-policy-cli-'));
    writeFileSync(join(dir, 'good.yaml'), GOOD);
    writeFileSync(join(dir, 'stricter.yaml'), STRICTER);
    writeFileSync(join(dir, 'bad.yaml'), BAD);
    writeFileSync(join(dir, 'modules.yaml'), MODULE_ERRORS);
    writeFileSync(join(dir, 'typo.yaml'), TYPO);
    env = { PORTCULLIS_GATEWAY: g.adminUrl, PORTCULLIS_TOKEN: g.keys.admin, HOME: dir, XDG_CONFIG_HOME: dir };
  });
  after(() => g.close());

  it('validate runs locally and names file, line and key of every problem', async () => {
    const ok = await run('validate', 'good.yaml');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /good\.yaml: ok \(1 rules\)/);
    const bad = await run('validate', 'good.yaml', 'bad.yaml');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad\.yaml:5: rules\[0\]\.resources\.modles: unknown key/);
    const cel = await run('validate', 'bad.yaml');
    assert.match(cel.stderr, /bad\.yaml:5/);
    // A typo in a condition's field is an error with its place, not a deny of every request at run time.
    const typo = await run('validate', 'typo.yaml');
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /typo\.yaml:6: rules\[0\]\.when: CEL error: unknown field request\.modle \(did you mean request\.model\?\)/);
    // What the approvals, budgets and detection modules own is checked locally too, with lines.
    const modules = await run('validate', 'modules.yaml');
    assert.equal(modules.code, 1);
    assert.match(modules.stderr, /modules\.yaml:5: rules\[0\]\.approval: /);
    assert.match(modules.stderr, /modules\.yaml:\d+: budgets\.limits/);
    assert.match(modules.stderr, /modules\.yaml:\d+: content\.rules\[0\]\.types\[0\]: no enabled detector reports NO_SUCH_TYPE/);
  });

  it('push, activate, history, show, diff, simulate, rollback', async () => {
    const pushed = await run('push', 'good.yaml', '-m', 'eng gets gpt-4o');
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /^pushed v1 \(pv_[0-9A-Z]{26}\) sha256:[0-9a-f]{12}/);
    assert.match((await run('push', 'good.yaml', '-m', 'again')).stdout, /unchanged, already stored as v1/);
    assert.equal((await run('push', 'bad.yaml', '-m', 'broken')).code, 1);
    const typo = await run('push', 'typo.yaml', '-m', 'a typo');
    assert.equal(typo.code, 1, 'a condition naming an unknown field is refused at push');
    assert.match(typo.stderr, /unknown field request\.modle/);
    const refused = await run('push', 'modules.yaml', '-m', 'bad approval options');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /rules\[0\]\.approval/);
    assert.match((await run('activate', 'v1')).stdout, /activated v1 .* in enforce mode/);

    const alice = new OpenAI({ baseURL: g.t.openaiBase, apiKey: g.keys.alice, maxRetries: 0 });
    await alice.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });

    assert.match((await run('push', 'stricter.yaml', '-m', 'only mini')).stdout, /pushed v2/);
    const diff = await run('diff', 'stricter.yaml');
    assert.match(diff.stdout, /^--- v1 \(pv_/m);
    assert.match(diff.stdout, /^-    resources: \{ models: \[gpt-4o\] \}$/m);
    assert.match(diff.stdout, /^\+    resources: \{ models: \[gpt-4o-mini\] \}$/m);
    const sim = await run('simulate', '--version', 'v2', '--since', '1h');
    assert.equal(sim.code, 0, sim.stderr);
    assert.match(sim.stdout, /allowed_to_blocked\s+1\s+e\.g\. ex_/);
    assert.match(sim.stdout, /\(no_matching_rule\)\s+allowed_to_blocked/);

    assert.match((await run('activate', 'v2', '--observe')).stdout, /in observe mode/);
    const history = await run('history');
    assert.match(history.stdout, /^\* v2 /m);
    assert.match(history.stdout, /^ {2}v1 .*"eng gets gpt-4o"\s+activated /m);
    const show = await run('show');
    assert.equal(show.stdout, STRICTER);
    assert.match((await run('rollback')).stdout, /rolled back to v1 .* in enforce mode/);
    assert.equal((await run('show', '--json')).stdout.includes('"number": 1'), true);
  });

  it('errors: unknown version, missing message, wrong credential', async () => {
    const missing = await run('activate', 'v42');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No policy version v42/);
    assert.equal((await run('push', 'good.yaml')).code, 2);
    env.PORTCULLIS_TOKEN = g.keys.alice;
    const denied = await run('activate', 'v1');
    assert.match(denied.stderr, /requires one of the roles: admin/);
    env.PORTCULLIS_TOKEN = g.keys.admin;
  });
});
