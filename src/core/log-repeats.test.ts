import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from './logger.ts';

/** A real pino logger writing to a stream, on a controllable clock and a captured timer. */
function setup(intervalMs = 10_000) {
  const out = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  out.on('data', (c: Buffer) => {
    for (const l of c.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  const clock = { t: 0 };
  const timers: { fn: () => void; at: number }[] = [];
  const logger = createLogger('info', out, { repeatIntervalMs: intervalMs, now: () => clock.t, schedule: (fn, ms) => timers.push({ fn, at: clock.t + ms }) });
  /** Moves the clock and runs the timers that came due, as the event loop would. */
  const advance = async (ms: number) => {
    clock.t += ms;
    for (let due = timers.findIndex((x) => x.at <= clock.t); due >= 0; due = timers.findIndex((x) => x.at <= clock.t)) timers.splice(due, 1)[0]!.fn();
    await new Promise((r) => setImmediate(r));
  };
  return { logger, lines, advance, settle: () => new Promise((r) => setImmediate(r)) };
}

test('a storm of one warning is one line, then "repeated N" once per interval while it lasts; then it is written again', async () => {
  const { logger, lines, advance, settle } = setup();
  for (let i = 0; i < 500; i++) logger.warn({ event: 'policy_poll_failed', error_name: 'SQLITE_BUSY' }, 'could not check the active policy version');
  await settle();
  assert.equal(lines.length, 1, 'written once');
  assert.equal(lines[0]!.event, 'policy_poll_failed');
  assert.equal(lines[0]!.repeated, undefined);
  await advance(10_000);
  assert.equal(lines.length, 2);
  assert.equal(lines[1]!.repeated, 499);
  assert.equal(lines[1]!.event, 'policy_poll_failed');
  assert.equal(lines[1]!.level, 40, 'the summary keeps the level');
  assert.match(String(lines[1]!.msg), /^repeated 499 times in 10000 ms: could not check/);
  // Still failing: counted in the next interval too.
  for (let i = 0; i < 7; i++) logger.warn({ event: 'policy_poll_failed', error_name: 'SQLITE_BUSY' }, 'could not check the active policy version');
  await advance(10_000);
  assert.deepEqual(lines.slice(2).map((l) => l.repeated), [7]);
  // A quiet interval closes the key; the next occurrence is a full line again.
  await advance(10_000);
  assert.equal(lines.length, 3, 'no summary for a quiet interval');
  logger.warn({ event: 'policy_poll_failed', error_name: 'SQLITE_BUSY' }, 'could not check the active policy version');
  await settle();
  assert.equal(lines.length, 4);
  assert.equal(lines[3]!.repeated, undefined);
});

test('the key is per event and classifying fields, not per occurrence id; other events and levels are not held back', async () => {
  const { logger, lines, advance, settle } = setup();
  logger.error({ event: 'exchange_internal_error', exchange_id: 'ex_1', error_name: 'TypeError' });
  logger.error({ event: 'exchange_internal_error', exchange_id: 'ex_2', error_name: 'TypeError' });
  logger.error({ event: 'exchange_internal_error', exchange_id: 'ex_3', error_name: 'RangeError' });
  logger.warn({ event: 'exchange_internal_error', exchange_id: 'ex_4', error_name: 'TypeError' });
  logger.warn({ event: 'events_sink_failed', reason: 'timeout' });
  logger.warn({ event: 'events_sink_failed', reason: 'http_503' });
  for (let i = 0; i < 3; i++) logger.info({ event: 'gateway_listening', listen: '127.0.0.1:1' });
  await settle();
  assert.deepEqual(lines.map((l) => [l.event, l.exchange_id ?? l.reason ?? l.listen]), [
    ['exchange_internal_error', 'ex_1'], ['exchange_internal_error', 'ex_3'], ['exchange_internal_error', 'ex_4'],
    ['events_sink_failed', 'timeout'], ['events_sink_failed', 'http_503'],
    ['gateway_listening', '127.0.0.1:1'], ['gateway_listening', '127.0.0.1:1'], ['gateway_listening', '127.0.0.1:1'],
  ]);
  await advance(10_000);
  const summary = lines.filter((l) => l.repeated !== undefined);
  assert.deepEqual(summary.map((l) => [l.event, l.exchange_id, l.repeated]), [['exchange_internal_error', 'ex_1', 1]], 'the summary keeps the first id');
});

test('repeat_interval_ms 0 writes every line', async () => {
  const { logger, lines, settle } = setup(0);
  for (let i = 0; i < 5; i++) logger.warn({ event: 'policy_poll_failed' });
  await settle();
  assert.equal(lines.length, 5);
});
