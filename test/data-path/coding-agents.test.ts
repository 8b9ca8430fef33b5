import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ExchangeGuard } from '../../src/proxy/guard.ts';
import { startPolicyGateway, type PolicyGateway } from '../policy/harness.ts';

/**
 * Issue #11 item 7 with the real coding agents (exact-pinned devDependencies, native binaries shipped through npm):
 * Claude Code (`claude -p`) and Codex CLI (`codex exec`) pointed at a gateway whose policy blocks a code name. A
 * refused prompt reaches the gateway once and is shown as the refusal — not retried ("Reconnecting… n/5"), not
 * resent with features stripped, not reported as "Failed to authenticate". An allowed prompt is answered, so a
 * refusal seen here is the policy's and not a broken setup.
 */
const BIN = join(import.meta.dirname, '../../node_modules/.bin');
const POLICY = `version: 1
defaults: { effect: allow }
rules: []
content:
  detectors: { builtins: none }
  custom:
    - { id: codenames, type: CODENAME, words: [Nightjar] }
    - { id: projects, type: PROJECT, words: [Kestrel] }
  rules:
    - { id: no-codenames, types: [CODENAME], direction: request, action: block }
    - { id: no-project-answers, types: [PROJECT], direction: response, action: block }
`;

function run(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    // A clean environment: only what the agent needs, never the caller's own provider or agent settings.
    const child = execFile(join(BIN, cmd), args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, cwd: env.HOME, timeout: 150_000, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout}\n${stderr}` });
    });
    child.stdin?.end(); // `codex exec` reads a piped stdin to its end before it starts
  });
}

describe('coding agents show a policy refusal once (Claude Code, Codex CLI)', () => {
  let g: PolicyGateway;
  let reached = 0;
  const counting = (inner: ExchangeGuard): ExchangeGuard => ({
    ...inner,
    inspectRequest(ctx) {
      reached++;
      return inner.inspectRequest(ctx);
    },
  });
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-agents-'));
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    // The agents send their whole system prompt and tool catalogue: well over the other tests' 64 KiB.
    g = await startPolicyGateway({ policyFile: join(dir, 'policy.yaml'), maxBodyBytes: 8 << 20, wrapGuard: counting });
  });
  after(() => g.close());

  // Each test runs a native agent up to two times: more than the default test timeout on a loaded machine.
  const SLOW = { timeout: 360_000 };
  const claude = (prompt: string) => run('claude', ['-p', prompt, '--model', 'claude-opus-4-5'], {
    HOME: mkdtempSync(join(tmpdir(), 'pcl-claude-')), ANTHROPIC_BASE_URL: g.t.anthropicBase, ANTHROPIC_API_KEY: g.keys.alice,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1',
  });
  const codex = (prompt: string) => {
    const home = mkdtempSync(join(tmpdir(), 'pcl-codex-'));
    return run('codex', ['exec', '--skip-git-repo-check', '-c', 'model_provider=pcl', '-c',
      `model_providers.pcl={name="pcl",base_url="${g.t.openaiBase}",env_key="PCL_KEY",wire_api="responses"}`, '-m', 'gpt-4o', prompt], {
      HOME: home, CODEX_HOME: home, PCL_KEY: g.keys.alice,
    });
  };

  it('Claude Code: answered when allowed; a blocked prompt is one request, shown as "API Error: 451" with the rule', SLOW, async () => {
    const ok = await claude('say hello');
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /echo: /);
    reached = 0;
    const refused = await claude('tell me about Nightjar');
    assert.equal(reached, 1, `Claude Code sent the refused prompt ${reached} times:\n${refused.out}`);
    assert.notEqual(refused.code, 0);
    assert.match(refused.out, /API Error: 451 The request was blocked by rule no-codenames: it contains CODENAME\./);
    assert.doesNotMatch(refused.out, /authenticate|login/i);
  });

  it('Codex CLI: answered when allowed; a blocked prompt is one request, shown with its message and code, no reconnects', SLOW, async () => {
    const ok = await codex('say hello');
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /echo: say hello/);
    reached = 0;
    const refused = await codex('tell me about Nightjar');
    assert.equal(reached, 1, `Codex sent the refused prompt ${reached} times:\n${refused.out}`);
    assert.notEqual(refused.code, 0);
    assert.match(refused.out, /The request was blocked by rule no-codenames: it contains CODENAME\./);
    assert.match(refused.out, /"code":"content_blocked"/);
    assert.doesNotMatch(refused.out, /Reconnecting/);
  });

  it('Codex CLI: an answer blocked mid-stream is one request, shown with its message (response.failed invalid_prompt), no reconnects', SLOW, async () => {
    reached = 0;
    const refused = await codex('tell me about Kestrel');
    assert.equal(reached, 1, `Codex sent the prompt ${reached} times:\n${refused.out}`);
    assert.notEqual(refused.code, 0);
    assert.match(refused.out, /The response was blocked by rule no-project-answers: it contains PROJECT\./);
    assert.doesNotMatch(refused.out, /Reconnecting|stream disconnected/);
  });
});
