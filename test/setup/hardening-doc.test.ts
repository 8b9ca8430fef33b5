import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

/**
 * docs/hardening.md maps each item of issue #11 to the tests that hold it. A reviewer opens those tests: every file
 * it names must exist and every test name it quotes must be in that file, so the page cannot drift from the suite.
 */
const ROOT = new URL('../../', import.meta.url);
const doc = readFileSync(new URL('docs/hardening.md', ROOT), 'utf8');

test('docs/hardening.md covers items 1–20, and every test file and test name it cites exists', () => {
  const rows = doc.split('\n').filter((l) => /^\| \d+ \|/.test(l));
  assert.deepEqual(rows.map((r) => Number(/^\| (\d+) \|/.exec(r)![1])), Array.from({ length: 20 }, (_, i) => i + 1));
  let cited = 0;
  for (const row of rows) {
    const item = /^\| (\d+) \|/.exec(row)![1];
    const tests = row.split(' | ').at(-1)!;
    let file: string | undefined;
    for (const m of tests.matchAll(/`((?:test|src)\/[^`]+\.ts)`|"((?:[^"\\]|\\.)*)"/g)) {
      if (m[1]) {
        file = m[1];
        assert.ok(existsSync(new URL(file, ROOT)), `item ${item}: ${file} does not exist`);
        continue;
      }
      const name = m[2]!.replaceAll('\\"', '"');
      assert.ok(file, `item ${item}: "${name}" is cited before any file`);
      // As the source spells it, less the escapes of its string literal (\' \" \`).
      const source = readFileSync(new URL(file, ROOT), 'utf8').replace(/\\(['"`])/g, '$1');
      assert.ok(source.includes(name), `item ${item}: ${file} has no test "${name}"`);
      cited++;
    }
  }
  assert.ok(cited >= 60, `${cited} test names cited`);
});
