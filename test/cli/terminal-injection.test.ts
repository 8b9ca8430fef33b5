import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { AuditLog } from '../../src/audit/log.ts';
import { createAuditObserver } from '../../src/audit/observer.ts';
import { sealBody, sealSegment } from '../../src/audit/recording.ts';
import { runCli } from '../../src/cli/main.ts';
import { terminalJson, terminalLine, terminalText } from '../../src/core/terminal-text.ts';
import { pushTemplate } from '../../src/policy/templates/resolver.ts';
import type { ExchangeFinish, ExchangeStart } from '../../src/store/ports.ts';
import { templateRepoFor } from '../../src/store/template-repo.ts';
import { closeOpenFixtures, fixedClock, fixture, type Fixture } from '../evidence/helpers.ts';
import { assertTerminalSafe, RAW_CONTROL as RAW } from './terminal.ts';

/**
 * Recorded fields are client data: an authenticated client chooses its model, user agent, prompt and (through its
 * IdP or key name) its subject. Printed raw they would clear, retitle or rewrite an auditor's terminal. Every
 * command that prints them is run on an exchange whose fields carry ESC/CSI/OSC/BEL/CR/C1/bidi sequences: no
 * control character may reach the terminal (except the newlines the CLI writes itself), and each is shown visibly.
 */
const CLEAR = '\x1b[2J\x1b[H';
const TITLE = '\x1b]0;pwned\x07';
const CLIPBOARD = '\x1b]52;c;cm0gLXJmIH4K\x1b\\';
const FORGED = '\r01J000000000000000000000000  2026-01-01T00:00:00.000Z  user:admin  (all fine)';
const C1_CSI = '\u009b31m';
const BIDI = '\u202eevil\u202c';
const HOSTILE = `x${CLEAR}${TITLE}${CLIPBOARD}${FORGED}${C1_CSI}${BIDI}\x08\x7f`;

async function hostileStore(): Promise<Fixture> {
  const f = await fixture();
  const clock = fixedClock(Date.parse('2026-01-01T00:00:00Z'));
  const log = await AuditLog.open({ repo: f.repo, keyring: f.keyring, clock, writerId: 'gw-a', checkpointIntervalMs: 0, checkpointEveryEntries: 1_000_000 });
  const obs = createAuditObserver({ log, repo: f.repo, keyring: f.keyring, sessionGapMs: 1_800_000 });
  const finding = { type: `EMAIL${TITLE}`, start: 0, end: 3, score: 1, detector: `det${CLEAR}`, rule: `rule${FORGED}`, action: `mask${C1_CSI}`, path: `messages[0].content${BIDI}`, direction: 'request' };
  for (const [i, streamed] of [[0, false], [1, true]] as const) {
    const id = `ex_hostile_${i}`;
    const at = clock.now() + i * 1000;
    const body = { model: `gpt-4o${HOSTILE}`, messages: [{ role: `user${TITLE}`, content: `hello ${HOSTILE}` }] };
    const start: ExchangeStart = {
      id, startedAt: at, subject: `user:mallory${HOSTILE}`,
      principal: { kind: 'user', displayName: `Mallory${CLEAR}`, groups: [`eng${TITLE}`], authMethod: 'api_key', credentialId: 'key_1' },
      endpoint: 'chat.completions', method: 'POST', path: '/v1/chat/completions', model: `gpt-4o${HOSTILE}`, provider: `mock${TITLE}`, upstreamModel: `up${CLEAR}`,
      stream: streamed, clientIp: '127.0.0.1', userAgent: `agent${HOSTILE}`,
      decision: {
        decisionId: `dec${TITLE}`, policyVersion: `pv${CLEAR}`, effect: 'allow', enforced: true, matchedRuleIds: [`rule${FORGED}`],
        reasons: [{ code: `allowed_by_rule${C1_CSI}`, ruleId: `eng${BIDI}`, detail: `d${TITLE}` }], sensitivity: `conf${CLEAR}`,
      },
      findings: [finding],
      clientRequest: sealBody(f.keyring, id, 'client_request', Buffer.from(JSON.stringify(body))),
      upstreamRequest: sealBody(f.keyring, id, 'upstream_request', Buffer.from(JSON.stringify({ ...body, messages: [{ role: 'user', content: `masked ${HOSTILE}` }] }))),
    };
    await f.store.exchanges.start(start);
    if (streamed) await f.store.exchanges.appendSegment(id, 0, sealSegment(f.keyring, id, 0, [[1, `ev${TITLE}`, `{"d":"${HOSTILE.replace(/[\u0000-\u001f"\\]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"}`], [2, null, `raw ${HOSTILE}`]]));
    const finish: ExchangeFinish = {
      id, finishedAt: at + 50, status: 'completed', httpStatus: 200, errorCode: `code${TITLE}`,
      timings: { upstreamFirstByteMs: 5, clientFirstByteMs: 6, totalMs: 50 }, usage: { inputTokens: 3, outputTokens: 7, totalTokens: 10 },
      response: streamed ? null : sealBody(f.keyring, id, 'response', Buffer.from(JSON.stringify({ choices: [{ message: { content: `answer ${HOSTILE}` } }] }))),
      eventCount: streamed ? 2 : 0, responseFindings: [{ ...finding, direction: 'response' }], forwarded: true,
    };
    await f.store.exchanges.finish(finish);
    await obs.onStart!(start);
    await obs.onFinish!(start, finish);
  }
  await log.checkpoint();
  await log.close();
  await pushTemplate(templateRepoFor(f.store), { id: 'tpl', description: `desc${HOSTILE}`, messages: [{ role: 'user', content: `say ${HOSTILE}` }] }, { at: Date.now(), by: `by${TITLE}` });
  writeFileSync(join(f.dir, 'c.yaml'), 'store: { url: "sqlite:p.db" }\nmaster_key: env:PCL_MASTER\nproviders: [{ name: mock, type: mock }]\nroutes: [{ model: "*", provider: mock }]\n');
  return f;
}

async function cli(f: Fixture, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdout = new PassThrough().on('data', (d: Buffer) => (out += d.toString()));
  const stderr = new PassThrough().on('data', (d: Buffer) => (err += d.toString()));
  const code = await runCli([...argv, '--config', join(f.dir, 'c.yaml')], { stdin: new PassThrough(), stdout, stderr, env: { PCL_MASTER: f.master.toString('base64') }, cwd: f.dir });
  return { code, out, err };
}

describe('no recorded value reaches the terminal as a control character', () => {
  afterEach(closeOpenFixtures);

  it('terminalLine/terminalText/terminalJson: every C0, DEL, C1 and bidi control shown escaped; JSON still parses to the same value', () => {
    assert.equal(terminalLine('a\x1b[2Jb\rc\nd\te\x07'), 'a\\x1b[2Jb\\x0dc\\x0ad\\x09e\\x07');
    assert.equal(terminalLine(`\u009b1m\u202e\u2066\x7f`), '\\x9b1m\\u202e\\u2066\\x7f');
    assert.equal(terminalText('line 1\n\tline 2\x1b]0;t\x07\r\n'), 'line 1\n\tline 2\\x1b]0;t\\x07\\x0d\n');
    const value = { s: HOSTILE, n: [1, 'ok'] };
    const json = terminalJson(value, 2);
    assertTerminalSafe(json, 'terminalJson');
    assert.deepEqual(JSON.parse(json), value);
    for (let c = 0; c < 0x10000; c++) {
      const ch = String.fromCharCode(c);
      if (c !== 0x0a && RAW.test(ch)) assert.notEqual(terminalLine(ch), ch, `U+${c.toString(16)} passes raw`);
    }
  });

  it('exchanges list/show/explain, sessions list/replay, templates list/show, human and --json', async () => {
    const f = await hostileStore();
    const sessions = JSON.parse((await cli(f, 'sessions', 'list', '--json')).out) as { id: string }[];
    assert.ok(sessions.length > 0);
    const runs: string[][] = [
      ['exchanges', 'list'], ['exchanges', 'list', '--json'],
      ['exchanges', 'show', 'ex_hostile_0'], ['exchanges', 'show', 'ex_hostile_1'], ['exchanges', 'show', 'ex_hostile_1', '--json'],
      ['exchanges', 'explain', 'ex_hostile_0'], ['exchanges', 'explain', 'ex_hostile_0', '--json'],
      ['sessions', 'list'], ['sessions', 'replay', sessions[0]!.id, '--no-wait'], ['sessions', 'replay', sessions[0]!.id, '--json'],
      ['templates', 'list'], ['templates', 'show', 'tpl'], ['templates', 'show', 'tpl', '--json'],
      ['exchanges', 'show', `nope${HOSTILE}`],
    ];
    for (const argv of runs) {
      const r = await cli(f, ...argv);
      assertTerminalSafe(r.out, `portcullis ${argv.join(' ')} (stdout)`);
      assertTerminalSafe(r.err, `portcullis ${argv.join(' ')} (stderr)`);
      if (!argv[2]?.startsWith('nope')) {
        assert.equal(r.code, 0, `${argv.join(' ')}: ${r.err}`);
        // The hostile value is shown, escaped, so the auditor sees it was there.
        assert.match(r.out, argv.includes('--json') ? /\\u001b|\\u009b|\\u202e/ : /\\x1b|\\x9b|\\u202e/, `${argv.join(' ')} shows the escapes`);
      }
    }
    // --json is still the recorded value, exactly.
    const shown = JSON.parse((await cli(f, 'exchanges', 'show', 'ex_hostile_0', '--json')).out) as { model: string; user_agent: string };
    assert.equal(shown.model, `gpt-4o${HOSTILE}`);
    assert.equal(shown.user_agent, `agent${HOSTILE}`);
  });

  it('exchanges export to stdout: CSV cells and JSONL lines show controls escaped; --out keeps the exact value', async () => {
    const f = await hostileStore();
    for (const format of ['csv', 'jsonl']) {
      const r = await cli(f, 'exchanges', 'export', '--format', format);
      assert.equal(r.code, 0, r.err);
      // A CSV record's own closing CRLF (RFC 4180) ends the line; any other CR would let a value overwrite it.
      assertTerminalSafe(format === 'csv' ? r.out.replaceAll('\r\n', '\n') : r.out, `exchanges export --format ${format}`);
      assert.match(r.out, format === 'csv' ? /\\x1b\[2J/ : /\\u009b/, `${format} shows the escapes`);
      if (format === 'jsonl') {
        const models = r.out.trim().split('\n').map((l) => (JSON.parse(l) as { model: string }).model);
        assert.deepEqual(models, [`gpt-4o${HOSTILE}`, `gpt-4o${HOSTILE}`], 'JSONL parses to the recorded values exactly');
      }
    }
    const file = await cli(f, 'exchanges', 'export', '--format', 'csv', '--out', 'x.csv');
    assert.equal(file.code, 0, file.err);
    assert.ok(readFileSync(join(f.dir, 'x.csv'), 'utf8').includes(`gpt-4o${HOSTILE.replaceAll('"', '""')}`), 'a file export keeps the recorded value');
  });

  it('no CLI module writes to a stream except through src/cli/io.ts', () => {
    const root = new URL('../../src/cli/', import.meta.url).pathname;
    const offenders = readdirSync(root, { recursive: true, encoding: 'utf8' })
      .filter((p) => p.endsWith('.ts') && !p.endsWith('.test.ts') && p !== 'io.ts')
      .flatMap((p) => readFileSync(join(root, p), 'utf8').split('\n').map((line, i) => ({ at: `src/cli/${p}:${i + 1}`, line })))
      .filter(({ line }) => /\.write\(|console\.|process\.std(out|err)\.(write|end)/.test(line))
      .map(({ at, line }) => `${at}: ${line.trim()}`);
    assert.deepEqual(offenders, []);
  });

  it('audit verify and verify-bundle: a hostile bundle (an untrusted file) cannot write to the terminal', async () => {
    const f = await hostileStore();
    let r = await cli(f, 'audit', 'verify');
    assert.equal(r.code, 0, r.out + r.err);
    assertTerminalSafe(r.out, 'audit verify');
    r = await cli(f, 'audit', 'export', '--out', 'b.json');
    assert.equal(r.code, 0, r.err);
    const bundle = JSON.parse(readFileSync(join(f.dir, 'b.json'), 'utf8')) as { manifest: { writers: { writer: string }[] }; entries: { writer: string; kind: string }[] };
    bundle.manifest.writers[0]!.writer = `gw-a${HOSTILE}`;
    bundle.entries[0]!.writer = `gw-a${HOSTILE}`;
    bundle.entries[1]!.kind = `exchange.started${TITLE}`;
    writeFileSync(join(f.dir, 'evil.json'), JSON.stringify(bundle));
    for (const argv of [['audit', 'verify-bundle', 'evil.json'], ['audit', 'verify-bundle', 'evil.json', '--json']]) {
      r = await cli(f, ...argv);
      assert.equal(r.code, 1, 'the edited bundle fails verification');
      assertTerminalSafe(r.out + r.err, argv.join(' '));
      assert.match(r.out, /\\x1b|\\u001b/);
    }
  });
});
