import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';

/**
 * `portcullis … | head`: the reader closes the pipe before the CLI is done. The CLI must end quietly (status 141,
 * like a process killed by SIGPIPE), never crash with an unhandled EPIPE and a stack trace.
 */
const BIN = new URL('../../bin/portcullis.js', import.meta.url).pathname;

function spawnCli(args: string[], closeEarly: 'stdout' | 'stderr', input = '') {
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let kept = '';
  const other = closeEarly === 'stdout' ? p.stderr : p.stdout;
  other.on('data', (d: Buffer) => (kept += d.toString()));
  // The CLI may end before it has read all its input: that side of the pipe closing is expected here.
  p.stdin.on('error', () => undefined);
  p.stdin.end(input);
  return { p, closed: closeEarly === 'stdout' ? p.stdout : p.stderr, kept: () => kept };
}

const exit = (p: ReturnType<typeof spawn>): Promise<number | null> => new Promise((r) => p.on('close', (code) => r(code)));

describe('closed output pipe (EPIPE)', () => {
  it('stdout closed after the first chunk of a long output: exits 141 without a word', async () => {
    // 20 000 results are far more than a pipe buffer holds: the CLI is still writing when the reader goes away.
    const input = Array.from({ length: 20_000 }, (_, i) => JSON.stringify(`line ${i} mail bob${i}@example.com`)).join('\n');
    const { p, closed, kept } = spawnCli(['scan', '--jsonl'], 'stdout', input);
    closed.once('data', () => closed.destroy());
    const code = await exit(p);
    assert.equal(kept(), '', 'nothing on stderr (no stack trace, no EPIPE message)');
    assert.equal(code, 141);
  });

  it('stderr closed before anything is written: exits 141 without a crash', async () => {
    const { p, closed, kept } = spawnCli(['no-such-command'], 'stderr');
    closed.destroy();
    const code = await exit(p);
    assert.equal(kept(), '');
    assert.equal(code, 141);
  });
});
