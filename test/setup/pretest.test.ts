import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, '../../scripts/ensure-test-deps.sh');

/**
 * The README's test command brings its own system packages (issue #11, item 1): `npm test` runs this script first.
 * It runs here against fake dpkg-query/apt-get/id/sudo on PATH in a copy of the repo layout, so every branch is
 * exercised without touching the machine.
 */
async function sandbox(o: { uid: number; installed: string[]; sudo: boolean }): Promise<{ dir: string; log: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pcl-pretest-'));
  await mkdir(join(dir, 'scripts'));
  await mkdir(join(dir, 'test/a'), { recursive: true });
  await mkdir(join(dir, 'test/b'), { recursive: true });
  await copyFile(SCRIPT, join(dir, 'scripts/ensure-test-deps.sh'));
  await writeFile(join(dir, 'test/a/APT_PACKAGES'), '# a comment\nalpha\nbeta\n');
  await writeFile(join(dir, 'test/b/APT_PACKAGES'), 'gamma # trailing comment\n');
  const bin = join(dir, 'bin');
  await mkdir(bin);
  const log = join(dir, 'apt.log');
  const installed = o.installed.join(' ');
  const fakes: Record<string, string> = {
    'dpkg-query': `for p in ${installed}; do [ "$p" = "\${@: -1}" ] && { printf 'install ok installed'; exit 0; }; done; exit 1`,
    'apt-get': `echo "apt-get $*" >> ${log}`,
    id: `echo ${o.uid}`,
    sudo: o.sudo ? `[ "$1" = -n ] && [ "$2" = true ] && exit 0; "$@"` : 'exit 1',
  };
  for (const [name, body] of Object.entries(fakes)) {
    await writeFile(join(bin, name), `#!/usr/bin/env bash\n${body}\n`);
    await chmod(join(bin, name), 0o755);
  }
  return { dir, log, path: `${bin}:/usr/bin:/bin` };
}

async function pretest(s: { dir: string; path: string }): Promise<{ code: number; stderr: string }> {
  try {
    const r = await run('bash', [join(s.dir, 'scripts/ensure-test-deps.sh')], { env: { PATH: s.path } });
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

test('package.json runs the system-package check before the suite, and .ci/run uses the same test command', async () => {
  const pkg = JSON.parse(await readFile(join(import.meta.dirname, '../../package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.pretest ?? '', /scripts\/ensure-test-deps\.sh/);
  const ci = await readFile(join(import.meta.dirname, '../../.ci/run'), 'utf8');
  assert.match(ci, /^npm test$/m);
});

test('not root and no sudo: stops at once with the exact command naming only the missing packages', async () => {
  const s = await sandbox({ uid: 1000, installed: ['beta'], sudo: false });
  const r = await pretest(s);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /apt-get install -y -qq --no-install-recommends alpha gamma'/);
  assert.doesNotMatch(r.stderr, /beta/);
  await assert.rejects(readFile(s.log), 'apt-get must not have run');
});

test('root: installs exactly the missing packages with apt-get', async () => {
  const s = await sandbox({ uid: 0, installed: ['alpha'], sudo: false });
  const r = await pretest(s);
  assert.equal(r.code, 0, r.stderr);
  const log = await readFile(s.log, 'utf8');
  assert.match(log, /^apt-get update -qq$/m);
  assert.match(log, /^apt-get install -y -qq --no-install-recommends beta gamma$/m);
});

test('password-less sudo: installs through sudo', async () => {
  const s = await sandbox({ uid: 1000, installed: [], sudo: true });
  const r = await pretest(s);
  assert.equal(r.code, 0, r.stderr);
  assert.match(await readFile(s.log, 'utf8'), /install -y -qq --no-install-recommends alpha beta gamma$/m);
});

test('everything installed: does nothing', async () => {
  const s = await sandbox({ uid: 1000, installed: ['alpha', 'beta', 'gamma'], sudo: false });
  const r = await pretest(s);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  await assert.rejects(readFile(s.log));
});
