import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFleet, type Fleet } from '../helpers/fleet.ts';
import { chat, mintUserKey, until } from './client.ts';

/**
 * Issue #11 item 20: a store outage made the gateway log the same failure dozens of times per millisecond. A real
 * `portcullis serve` on PostgreSQL through a TCP proxy that drops every connection and refuses new ones (the
 * database restarting): while it is down every poller (policy, alerts, suspensions, analytics, the lease heartbeat,
 * the change feed) fails on each turn, and requests are refused 503 (the documented answer, not logged per request).
 * Each kind of failure must be written in full once, then summarized (`repeated: N`) once per
 * `logging.repeat_interval_ms`.
 */
const INTERVAL_MS = 1_500;
const REQUESTS = 120;
const SLOW = { timeout: 600_000 };

interface Line { level: number; event?: string; repeated?: number; [k: string]: unknown }

/** The fields the limiter groups by (src/core/log-repeats.ts): lines that differ only by an exchange id are one kind. */
const kindOf = (l: Line): string => ['level', 'event', 'msg', 'code', 'reason', 'error_name', 'status', 'provider', 'source', 'policy_version', 'mode', 'path']
  .map((k) => (l[k] === undefined ? '' : String(l[k] as string))).join('|');

describe('repeated log lines during a store outage', () => {
  let fleet: Fleet;
  let key: string;
  before(async () => {
    fleet = await startFleet({
      replicas: 1, loadBalancer: false, logLevel: 'warn', logging: { repeat_interval_ms: INTERVAL_MS },
      storeKeys: { lease: { heartbeat_interval_ms: 250, ttl_ms: 5_000 }, postgres: { connect_timeout_ms: 1_000, query_timeout_ms: 2_000, statement_timeout_ms: 2_000 } },
      auth: { key_cache_ttl_ms: 0 },
      extraYaml: 'policy:\n  poll_interval_ms: 100\napprovals:\n  poll_ms: 100\nalerts:\n  eval_interval_ms: 100\n',
    });
    key = (await mintUserKey(fleet.replicas[0]!.url, fleet.adminKey, 'outage-user')).key;
  }, SLOW);
  after(async () => {
    await fleet?.close();
  }, SLOW);

  it('each failure is written once, then "repeated N" per interval, however many requests and polls fail', SLOW, async () => {
    const replica = fleet.replicas[0]!;
    const from = replica.logs().length;
    const linesSince = (): Line[] => replica.logs().slice(from).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
    const began = Date.now();
    fleet.dbProxy!.setMode('drop-all');
    let refused = 0;
    const tally = (): Map<string, { full: number; summaries: number; held: number }> => {
      const kinds = new Map<string, { full: number; summaries: number; held: number }>();
      for (const l of linesSince().filter((x) => x.level >= 40)) {
        const k = kindOf({ ...l, repeated: undefined, msg: l.repeated === undefined ? l.msg : String(l.msg).replace(/^repeated \d+ times in \d+ ms(: )?/, '') || undefined });
        const c = kinds.get(k) ?? { full: 0, summaries: 0, held: 0 };
        if (l.repeated === undefined) c.full++;
        else {
          c.summaries++;
          c.held += l.repeated;
        }
        kinds.set(k, c);
      }
      return kinds;
    };
    try {
      for (let i = 0; i < REQUESTS; i++) if ((await chat(replica.url, key)).status === 503) refused++;
      // Summaries come when an interval ends while the failures go on: wait until one has held back many polls.
      await until('a summary of many repeats', 60_000, async () => ([...tally().values()].some((c) => c.held >= 20) ? true : undefined), () => JSON.stringify([...tally()]));
    } finally {
      fleet.dbProxy!.setMode('pass');
    }
    const outageMs = Date.now() - began;
    const kinds = tally();
    assert.ok(refused >= REQUESTS * 0.9, `the outage refused the requests (${refused}/${REQUESTS})`);
    assert.ok(kinds.has('40|policy_poll_failed|could not check the active policy version; keeping the current one|||StoreUnavailableError||||||'), `the failing poll was logged: ${[...kinds.keys()].join('\n')}`);
    // A kind goes quiet only when a whole interval passes without it; while it keeps failing it is one line, then one
    // summary per interval. The bound is counted from the outage's own length, so a slow machine only loosens it.
    const intervals = Math.ceil(outageMs / INTERVAL_MS) + 1;
    for (const [k, c] of kinds) {
      assert.ok(c.full <= intervals, `${k}: ${c.full} full lines in ${outageMs} ms (at most ${intervals})`);
      assert.ok(c.summaries <= intervals, `${k}: ${c.summaries} summaries in ${outageMs} ms (at most ${intervals})`);
    }
    const written = [...kinds.values()].reduce((n, c) => n + c.full + c.summaries, 0);
    const happened = [...kinds.values()].reduce((n, c) => n + c.full + c.held, 0);
    assert.ok(written * 3 <= happened, `${written} lines written for ${happened} failures`);
  });
});
