// Where the fleet's PostgreSQL backends spend their time while the benchmark runs (docs/benchmark.md, "Stop 20"):
// pg_stat_activity sampled every few milliseconds, each active backend classified by what it waits on
// (wait_event_type:wait_event, https://www.postgresql.org/docs/current/monitoring-stats.html#WAIT-EVENT-TABLE) and by
// the statement it runs, and lock waits on budget_counters rows told apart from the rest. pg_stat_statements needs
// a server restart (shared_preload_libraries) that a shared database cannot get, so this samples instead.
import type pg from 'pg';

/** The statement a backend runs, as the recording group commit and the budget counters send them. */
const STATEMENTS: [RegExp, string][] = [
  [/INSERT INTO budget_counters/i, 'counter upsert'],
  [/FROM budget_counters|JOIN budget_counters/i, 'counter read'],
  [/portcullis_assign_sessions/i, 'session assignment (with its identity locks)'],
  [/pg_advisory_xact_lock/i, 'writer locks'],
  [/INSERT INTO audit_entries/i, 'chain insert'],
  [/INSERT INTO exchanges/i, 'exchange start'],
  [/UPDATE exchanges/i, 'exchange end'],
  [/FROM exchanges WHERE id = ANY/i, 'appended status check'],
  [/^\s*COMMIT/i, 'COMMIT'],
  [/^\s*BEGIN/i, 'BEGIN'],
];

const statementOf = (q: string): string => STATEMENTS.find(([re]) => re.test(q))?.[1] ?? q.replace(/\s+/g, ' ').slice(0, 40);

export interface WaitReport {
  samples: number;
  /** Mean number of backends per sample in each state, largest first: `[state | statement, mean]`. */
  rows: [string, number][];
  /** Mean backends per sample waiting for a lock while running the counter upsert (row locks on budget_counters). */
  counterLockWaits: number;
  /** Mean backends per sample waiting for any lock. */
  lockWaits: number;
  /** Mean backends per sample not idle (running, waiting, or idle in a transaction). */
  active: number;
}

/** Samples `db`'s backends on `client` (its own backend excluded) until stop() is called. */
export function sampleWaits(client: pg.Client, db: string, everyMs = 10): { stop(): Promise<WaitReport> } {
  const counts = new Map<string, number>();
  let samples = 0;
  let counterLockWaits = 0;
  let lockWaits = 0;
  let active = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await client.query<{ wt: string | null; we: string | null; state: string; query: string }>(
        `SELECT wait_event_type AS wt, wait_event AS we, state, query FROM pg_stat_activity
          WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'`, [db]);
      samples++;
      for (const r of rows) {
        active++;
        const what = r.state === 'idle in transaction' ? 'idle in transaction (waits for the gateway)' : r.wt ? `${r.wt}:${r.we}` : 'on CPU';
        const stmt = statementOf(r.query);
        const key = `${what} | ${stmt}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        if (r.wt === 'Lock') {
          lockWaits++;
          if (stmt === 'counter upsert') counterLockWaits++;
        }
      }
      await new Promise((ok) => setTimeout(ok, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const per = (n: number): number => (samples ? n / samples : 0);
      return {
        samples,
        rows: [...counts].map(([k, n]): [string, number] => [k, per(n)]).sort((a, b) => b[1] - a[1]),
        counterLockWaits: per(counterLockWaits), lockWaits: per(lockWaits), active: per(active),
      };
    },
  };
}

/** The report as Markdown lines. */
export function formatWaits(name: string, w: WaitReport, top = 12): string {
  const lines = [
    `${name}: ${w.samples} samples; backends not idle ${w.active.toFixed(2)}, waiting for a lock ${w.lockWaits.toFixed(2)} (on budget_counters rows, in the counter upsert: ${w.counterLockWaits.toFixed(2)})`,
    '', '| wait | statement | mean backends |', '|---|---|---|',
    ...w.rows.slice(0, top).map(([k, n]) => `| ${k.split(' | ').join(' | ')} | ${n.toFixed(2)} |`),
  ];
  return lines.join('\n');
}
