import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { parseApiKey } from '../../src/crypto/api-keys.ts';

/**
 * The `portcullis` binary as a user runs it: `serve` on the embedded default (no config), first-start
 * artefacts (0600 master key, bootstrap admin key), `keys`, `exchanges`, `credentials`, config errors.
 */
const BIN = new URL('../../bin/portcullis.js', import.meta.url).pathname;

function run(args: string[], o: { cwd: string; input?: string; env?: Record<string, string> }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: o.cwd, env: { ...process.env, ...o.env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdin.end(o.input ?? '');
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('portcullis CLI', () => {
  let dir: string;
  let server: ChildProcess;
  let url: string;
  let logs = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pcl-cli-'));
    server = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0'], { cwd: dir, env: { ...process.env, PORTCULLIS_CONFIG: '' } });
    url = await new Promise<string>((resolve, reject) => {
      server.stdout!.on('data', (d: Buffer) => {
        logs += d.toString();
        const m = /portcullis listening on (http:\/\/\S+)/.exec(logs);
        if (m) resolve(m[1]!);
      });
      server.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
      server.once('exit', (c) => reject(new Error(`serve exited ${c}: ${logs}`)));
    });
  });
  after(() => {
    server.kill('SIGTERM');
  });

  it('first start: master key 0600 with a warning, bootstrap admin key 0600', () => {
    assert.equal(statSync(join(dir, '.portcullis/master.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, '.portcullis/admin.key')).mode & 0o777, 0o600);
    assert.match(logs, /master_key_generated/);
    assert.match(readFileSync(join(dir, '.portcullis/admin.key'), 'utf8'), /^pcl_[a-z0-9]{8}_/);
  });

  it('keys create prints the key once; an SDK call with it is recorded; exchanges list/show --json read it', async () => {
    const created = await run(['keys', 'create', '--user', 'alice', '--groups', 'eng,ml', '--expires', '30d'], { cwd: dir });
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    assert.match(key, /^pcl_/);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'any-model', messages: [{ role: 'user', content: 'via the mock' }] });
    assert.match(r.choices[0]!.message.content!, /via the mock/);
    let rows: { id: string; subject: string; status: string }[] = [];
    for (let i = 0; i < 50 && !rows.some((x) => x.status === 'completed'); i++) {
      rows = JSON.parse((await run(['exchanges', 'list', '--json'], { cwd: dir })).stdout) as typeof rows;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(rows[0]!.subject, 'user:alice');
    const show = await run(['exchanges', 'show', rows[0]!.id, '--json'], { cwd: dir });
    const detail = JSON.parse(show.stdout) as { client_request: { messages: unknown[] }; response: unknown; principal: { groups: string[] } };
    assert.deepEqual(detail.principal.groups, ['eng', 'ml']);
    assert.ok(detail.response);
    const list = await run(['keys', 'list', '--json'], { cwd: dir });
    assert.ok(!list.stdout.includes(parseApiKey(key)!.secretPart), 'the secret is never listed');
  });

  it('exchanges list selects by group, client tool, finding type and several statuses; a bad value is a usage error', async () => {
    const ids = async (...flags: string[]) => {
      const r = await run(['exchanges', 'list', '--json', ...flags], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { id: string; subject: string }[]).map((x) => x.subject);
    };
    // alice's exchange above: groups eng and ml, the OpenAI Node SDK (client tool openai-js), completed, no findings.
    assert.deepEqual(await ids('--group', 'ml', '--client-tool', 'openai-js', '--status', 'completed,failed'), ['user:alice']);
    assert.deepEqual(await ids('--group', 'nobody'), []);
    assert.deepEqual(await ids('--client-tool', 'curl'), []);
    assert.deepEqual(await ids('--finding-type', 'EMAIL_ADDRESS'), []);
    const bad = await run(['exchanges', 'list', '--finding-type', 'email'], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /finding_type` must be a finding type/);
  });

  it('keys revoke takes effect (within the key cache TTL)', async () => {
    const created = await run(['keys', 'create', '--service', 'etl', '--json'], { cwd: dir });
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    assert.equal((await run(['keys', 'revoke', id], { cwd: dir })).code, 0);
    await new Promise((r) => setTimeout(r, 2100));
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: '{}' });
    assert.equal(res.status, 401);
  });

  it('credentials set reads the provider key from stdin and never prints it', async () => {
    const out = await run(['credentials', 'set', 'mock'], { cwd: dir, input: 'sk-very-secret-provider-key\n' });
    assert.equal(out.code, 0, out.stderr);
    assert.ok(!(out.stdout + out.stderr).includes('sk-very-secret'));
    const list = await run(['credentials', 'list'], { cwd: dir });
    assert.match(list.stdout, /^mock\s+updated/m);
  });

  it('changes made on the store are chained as cli:<user>: the intent before the change, then its outcome', async () => {
    const created = await run(['keys', 'create', '--user', 'dora', '--json'], { cwd: dir });
    const { id } = JSON.parse(created.stdout) as { id: string };
    assert.equal((await run(['keys', 'revoke', id], { cwd: dir })).code, 0);
    assert.equal((await run(['keys', 'revoke', 'nosuchk1'], { cwd: dir })).code, 1);
    const out = join(dir, 'trail.json');
    assert.equal((await run(['audit', 'export', '--out', out], { cwd: dir })).code, 0);
    type E = { writer: string; kind: string; subject: string; payload: Record<string, unknown> };
    const cli = (JSON.parse(readFileSync(out, 'utf8')) as { entries: E[] }).entries.filter((e) => e.writer.startsWith('cli-') && e.kind.startsWith('admin.'));
    const steps = cli.filter((e) => e.payload.action !== 'audit.export').map((e) => [e.kind, e.payload.action, e.payload.outcome ?? null, e.payload.target]);
    assert.deepEqual(steps.slice(-6), [
      ['admin.requested', 'keys.create', null, null], ['admin.action', 'keys.create', 'success', id],
      ['admin.requested', 'keys.revoke', null, id], ['admin.action', 'keys.revoke', 'success', id],
      ['admin.requested', 'keys.revoke', null, 'nosuchk1'], ['admin.action', 'keys.revoke', 'failure', 'nosuchk1'],
    ]);
    const [req, done] = cli.filter((e) => e.payload.action === 'keys.create').slice(-2);
    assert.equal(req!.payload.request_id, done!.payload.request_id, 'the outcome names its intent');
    assert.match(req!.subject, /^cli:/);
    assert.equal((await run(['audit', 'verify'], { cwd: dir })).code, 0);
  });

  it('health, readiness and metrics', async () => {
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /portcullis_requests_total\{endpoint="openai.chat",status="200"\} \d+/);
    assert.match(metrics, /portcullis_upstream_first_byte_seconds_bucket/);
  });

  it('a bad config is refused at start with the key path and line', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'providers:\n  - name: openai\n    type: openia\nroutes:\n  - model: "*"\n    provider: nope\n');
    const out = await run(['serve', '--config', file], { cwd: dir });
    assert.equal(out.code, 2);
    assert.match(out.stderr, /providers\[0\]\.type \(line 3\): must be one of/);
  });

  it('usage errors exit 2 with the usage line', async () => {
    const out = await run(['keys', 'create'], { cwd: dir });
    assert.equal(out.code, 2);
    assert.match(out.stderr, /give exactly one of --user or --service/);
    assert.equal((await run(['nope'], { cwd: dir })).code, 2);
  });
});
