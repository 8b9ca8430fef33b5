import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/main.ts';
import { loadSession, replaySession } from '../../src/audit/replay.ts';
import { closeOpenFixtures, seeded, WRITER, type Fixture } from './helpers.ts';

async function cli(f: Fixture, masterB64: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await runCli([...argv, '--config', join(f.dir, 'c.yaml')], { stdin: new PassThrough(), stdout, stderr, env: { PCL_MASTER: masterB64 }, cwd: f.dir });
  return { code, out, err };
}

async function cliFixture(): Promise<{ f: Fixture; run: (...argv: string[]) => ReturnType<typeof cli> }> {
  const { f } = await seeded();
  writeFileSync(join(f.dir, 'c.yaml'), 'store: { url: "sqlite:p.db" }\nmaster_key: env:PCL_MASTER\nproviders: [{ name: mock, type: mock }]\nroutes: [{ model: "*", provider: mock }]\n');
  return { f, run: (...argv) => cli(f, f.master.toString('base64'), ...argv) };
}

describe('portcullis audit / sessions (in-process CLI)', () => {
  afterEach(closeOpenFixtures);

  it('audit verify, export, verify-bundle: 0 when intact, 1 with the place when tampered', async () => {
    const { f, run } = await cliFixture();
    let r = await run('audit', 'verify');
    assert.equal(r.code, 0, r.err + r.out);
    assert.match(r.out, /VERIFIED — 13 entries from 1 writer/);
    r = await run('audit', 'public-key');
    assert.equal(r.code, 0, r.err);
    writeFileSync(join(f.dir, 'pub.pem'), r.out);
    r = await run('audit', 'export', '--since', '2025-01-01T00:00:00Z', '--out', 'b.json');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /wrote 13 entries from 1 writer\(s\)/);
    r = await run('audit', 'verify-bundle', 'b.json', '--key', 'pub.pem');
    assert.equal(r.code, 0, r.err + r.out);
    assert.match(r.out, /VERIFIED.*\n.*\(pinned\)/);

    const text = readFileSync(join(f.dir, 'b.json'), 'utf8');
    writeFileSync(join(f.dir, 'cut.json'), text.slice(0, text.length / 2));
    r = await run('audit', 'verify-bundle', 'cut.json');
    assert.equal(r.code, 1);
    assert.match(r.err, /not JSON \(truncated\?\)/);
    writeFileSync(join(f.dir, 'edit.json'), text.replace('"keys.create"', '"keys.list"'));
    r = await run('audit', 'verify-bundle', 'edit.json', '--key', 'pub.pem');
    assert.equal(r.code, 1);
    assert.match(r.out, /PROBLEM entry_modified: entry seq 13 of writer gw-a was modified/);

    f.tamper('DELETE FROM audit_entries WHERE writer = ? AND seq = 2', WRITER);
    r = await run('audit', 'verify');
    assert.equal(r.code, 1);
    assert.match(r.out, /PROBLEM entry_missing: 1 entry missing: seq 2 of writer gw-a/);
    r = await run('audit', 'verify', '--json');
    assert.equal(r.code, 1);
    const report = JSON.parse(r.out) as { ok: boolean; problems: Record<string, unknown>[] };
    assert.equal(report.ok, false);
    assert.deepEqual(report.problems[0], { code: 'entry_missing', writer: WRITER, seq: 2, exchange_id: null, message: report.problems[0]!.message });
  });

  it('sessions list and replay: what was sent, received and streamed back, in order; replay is chained', async () => {
    const { f, run } = await cliFixture();
    let r = await run('sessions', 'list');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^ses_0 .* alice\s+6 exchange\(s\)\s+time-gap$/m);
    r = await run('sessions', 'replay', 'ses_0', '--speed', '1000');
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split('\n');
    assert.match(lines[0]!, /^session ses_0 · alice · 6 exchange\(s\)/);
    const ex1 = lines.findIndex((l) => l.startsWith('━━ ex_1 '));
    assert.deepEqual(lines.slice(ex1 + 1, ex1 + 8), [
      '   decision: allow (default_allow)',
      '   findings: none',
      '>> sent:',
      '   user: hello',
      '>> provider received: the same bytes',
      '<< +1.0ms {"a":1}',
      '<< +20.0ms [DONE]',
    ]);
    assert.deepEqual(lines.filter((l) => l.startsWith('━━')).map((l) => l.split(' ')[1]), ['ex_0', 'ex_1', 'ex_2', 'ex_3', 'ex_4', 'ex_5']);
    const heads = await f.repo.heads();
    const cliHead = heads.find((h) => h.writer.startsWith('cli-'))!;
    const replayed = await f.repo.entry(cliHead.writer, cliHead.seq);
    assert.deepEqual(replayed!.payload, { action: 'session.replay', target: 'ses_0' });
    assert.equal((await run('sessions', 'replay', 'ses_nope')).code, 1);
  });

  it('replay waits follow the recorded timing, scaled by the speed factor, gaps capped', async () => {
    const { f } = await cliFixture();
    const rec = (await loadSession({ store: f.store, repo: f.repo, keyring: f.keyring, id: 'ses_0' }))!;
    const waits: number[] = [];
    const out = new PassThrough();
    out.resume();
    await replaySession(rec, { out, speed: 2, wait: true, maxGapMs: 500, sleep: async (ms) => void waits.push(ms) });
    // ex_0 (not streamed) · gap to ex_1 capped at 500 · events at +1 and +20 · gap · ex_2 · gap · ex_3 …
    assert.deepEqual(waits.slice(0, 3), [250, 0.5, 9.5]);
    assert.deepEqual(waits, [250, 0.5, 9.5, 250, 250, 0.5, 9.5, 250, 250, 0.5, 9.5]);
    const started = Date.now();
    await replaySession(rec, { out, speed: 1, wait: true, maxGapMs: 0 });
    assert.ok(Date.now() - started >= 3 * 19, 'real pauses between streamed events');
  });
});
