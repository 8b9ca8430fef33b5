import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fakeCredential } from '../helpers/fake-credentials.ts';

/** `portcullis scan` as a user runs it: the real binary, stdin and files. */
const BIN = new URL('../../bin/portcullis.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'pcl-scan-'));

function run(args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [BIN, 'scan', ...args], { cwd: dir });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', fail);
    p.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
    p.stdin.end(input);
  });
}

const KEY = fakeCredential.openaiLong();
const TEXT = `mail jane@example.com card 4111-1111-1111-1111 key ${KEY}`;

describe('portcullis scan', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--names adds the names recognizer (PERSON, LOCATION); without it names are left alone', async () => {
    const text = 'please send it to Margaret Thornbury in Austria';
    const on = JSON.parse((await run(['--names', '--json'], text)).stdout);
    assert.equal(on.masked, 'please send it to [PERSON] in [LOCATION]');
    const off = JSON.parse((await run(['--json'], text)).stdout);
    assert.equal(off.masked, text);
  });

  it('--json without a policy: every built-in, masked, Presidio type names, offsets into the input', async () => {
    const r = await run(['--json'], TEXT);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.findings.map((f: { type: string }) => f.type), ['EMAIL_ADDRESS', 'CREDIT_CARD', 'SECRET_OPENAI_KEY']);
    assert.equal(TEXT.slice(out.findings[1].start, out.findings[1].end), '4111-1111-1111-1111');
    assert.equal(out.masked, 'mail [EMAIL_ADDRESS] card [CREDIT_CARD] key [SECRET_OPENAI_KEY]');
    assert.ok(!r.stdout.includes(KEY));
  });

  it('--policy FILE uses the content section of a full policy document and ignores the other keys', async () => {
    writeFileSync(join(dir, 'policy.yaml'), [
      'version: 1', 'rules: []', 'content:', '  rules:',
      '    - { id: cards, types: [CREDIT_CARD], action: mask, mask: partial }',
      "    - { id: secrets, types: ['SECRET_*'], action: block }",
      '  custom:', '    - { id: codes, type: CODENAME, words: [Blue Falcon] }', '',
    ].join('\n'));
    writeFileSync(join(dir, 'in.txt'), TEXT + ' about blue falcon');
    const r = await run(['--policy', 'policy.yaml', 'in.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /CREDIT_CARD\s+27-46\s+score 1\.00\s+rule cards\s+mask/);
    assert.match(r.stdout, /SECRET_OPENAI_KEY .* rule secrets\s+block/);
    assert.match(r.stdout, /BLOCKED/);
    assert.match(r.stdout, /card \*\*\*\*1111 key \[SECRET_OPENAI_KEY\]/);
    assert.doesNotMatch(r.stdout, /EMAIL_ADDRESS/, 'no rule covers emails: not reported');
  });

  it('--jsonl: one JSON string per line in, one result per line out; bad lines are reported and set the exit code', async () => {
    const r = await run(['--jsonl', '-'], ['"a@b.io"', '{"not":"a string"}', JSON.stringify('iban de89 3704 0044 0532 0130 00'), ''].join('\n'));
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { masked?: string; findings: { type: string }[] });
    assert.equal(lines.length, 3);
    assert.equal(lines[0]!.masked, '[EMAIL_ADDRESS]');
    assert.deepEqual(lines[1], { line: 2, error: 'each line must be one JSON string' });
    assert.equal(lines[2]!.findings[0]!.type, 'IBAN_CODE');
  });

  it('an invalid content section is refused with key paths; usage errors exit 2', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'content:\n  rules:\n    - { id: x, types: [EMAIL_ADRESS], action: mask }\n');
    const r = await run(['--policy', 'bad.yaml'], 'x');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /content\.rules\[0\]\.types\[0\]: no enabled detector reports EMAIL_ADRESS/);
    const u = await run(['--json', '--jsonl'], 'x');
    assert.equal(u.code, 2);
  });
});
