import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exchangeFilter } from '../../src/admin/routes.ts';
import { foldExchanges } from '../../src/analytics/fold.ts';
import { usageReport } from '../../src/analytics/report.ts';
import type { Dimension, UsageQuery } from '../../src/analytics/types.ts';
import { GatewayError } from '../../src/core/errors.ts';
import { openAnalyticsRepo } from '../../src/store/analytics-repo.ts';
import type { ExchangeFinish, ExchangeStart, Store } from '../../src/store/ports.ts';
import { analyticsEngines, rng, type OpenEngine } from './engines.ts';
import { costOf } from './rollup-cost.ts';

/**
 * The exchange list's group, client tool, finding type and several-status filters select exactly what the usage
 * dashboard counted: random traffic is rolled up, each breakdown row's `exchanges` query (as the console follows it)
 * goes through the API's own parser to the store's list, and the ids listed equal a recount from the generated
 * rows — on SQLite and PostgreSQL.
 */


const T0 = Date.UTC(2026, 10, 30, 22, 0, 0);
const ERRORS = ['upstream_error', 'incomplete', 'failed', 'client_aborted'] as const;
const GROUPS = ['eng', 'ml', 'ci', 'Finance & Legal', 'é"quoted"', 'ops,west'];
const UAS = ['OpenAI/Python 1.50.0', 'Anthropic/JS 0.60.0', 'claude-cli/2.0.1 (external, cli)', 'codex_cli_rs/0.40.0', 'curl/8.5.0', 'Mozilla/5.0 (X11)', '((odd', null];
const TYPES = ['EMAIL_ADDRESS', 'CREDIT_CARD', 'SECRET_AWS_ACCESS_KEY', 'PHONE_NUMBER'];

interface Generated { start: ExchangeStart; finish: ExchangeFinish }

function generate(seed: number, n: number): Generated[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const out: Generated[] = [];
  for (let i = 0; i < n; i++) {
    const groups = GROUPS.filter(() => r() < 0.3);
    const startedAt = T0 + Math.floor(r() * 2 * 86_400_000);
    const status = pick(['completed', 'completed', 'rejected', ...ERRORS] as const);
    const findings = Array.from({ length: Math.floor(r() * 3) }, () => ({ type: pick(TYPES), action: 'mask' }));
    const start: ExchangeStart = {
      id: `ex_${String(i).padStart(6, '0')}_${seed}`, startedAt, subject: `user${Math.floor(r() * 5)}`,
      principal: { authMethod: 'api_key', credentialId: 'k', displayName: 'someone', groups, kind: r() < 0.2 ? 'service' : 'user' },
      endpoint: 'openai.chat', method: 'POST', path: '/v1/chat/completions', model: pick(['gpt-4o', 'claude-sonnet']), provider: 'openai', upstreamModel: null,
      stream: false, clientIp: null, userAgent: pick(UAS), decision: null, findings, clientRequest: null, upstreamRequest: null,
    };
    out.push({
      start,
      finish: {
        id: start.id, finishedAt: startedAt + 10, status, httpStatus: status === 'rejected' ? 403 : 200,
        errorCode: status === 'rejected' ? pick(['policy_denied', 'content_blocked']) : status === 'completed' ? null : 'upstream_status_500',
        timings: { upstreamFirstByteMs: null, clientFirstByteMs: null, totalMs: 10 }, usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
        response: null, eventCount: 0, responseFindings: r() < 0.25 ? [{ type: pick(TYPES), action: 'redact' }] : [], forwarded: status !== 'rejected',
      },
    });
  }
  return out;
}

/** The client tool family, recounted by hand for the user agents above. */
const TOOLS: [string, string][] = [['OpenAI/Python', 'openai-python'], ['Anthropic/JS', 'anthropic-js'], ['claude-cli/', 'claude-code'], ['codex_cli_rs', 'codex'], ['curl/', 'curl'], ['Mozilla/', 'mozilla']];
function toolOf(ua: string | null): string {
  return ua === null ? 'unknown' : TOOLS.find(([prefix]) => ua.startsWith(prefix))?.[1] ?? 'other';
}

/** Does exchange x count under (dim, value) of the dashboard? The recount the list must agree with. */
function countsUnder(x: Generated, dim: Dimension, value: string): boolean {
  const groups = (x.start.principal as { groups: string[] }).groups;
  const types = [...x.start.findings, ...x.finish.responseFindings].map((f) => String(f.type));
  if (dim === 'group') return groups.includes(value);
  if (dim === 'client') return toolOf(x.start.userAgent) === value;
  if (dim === 'finding') return types.includes(value);
  if (dim === 'model') return x.start.model === value;
  if (dim === 'status') return x.finish.status === value;
  return dim === 'all';
}

async function listed(store: Store, query: Record<string, unknown>): Promise<string[]> {
  const q = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
  q.set('limit', '1000');
  return (await store.exchanges.list(exchangeFilter(q))).map((x) => x.id).sort();
}

function conformance(engine: string, open: OpenEngine): void {
  describe(`exchange list filters equal the dashboard: ${engine}`, () => {
    test('every group, client tool, finding type and errors row lists exactly the exchanges it counted', async () => {
      const { store, stop, exec } = await open();
      try {
        const xs = generate(engine === 'sqlite' ? 21 : 22, 500);
        for (const x of xs) {
          if (x.finish.status === 'rejected') await store.exchanges.recordRejected(x.start, x.finish);
          else {
            await store.exchanges.start(x.start);
            await store.exchanges.finish(x.finish);
          }
        }
        const repo = openAnalyticsRepo(store);
        while ((await repo.roll(97, (rows) => foldExchanges(rows, costOf))) > 0);
        // A third of the rows as recorded before migration core/005 (no client tool): the roller's backfill gives them theirs.
        await exec(`UPDATE exchanges SET client_tool = NULL WHERE substr(id, 9, 1) IN ('0', '3', '6')`);
        assert.ok((await listed(store, { client_tool: 'curl' })).length < xs.filter((x) => toolOf(x.start.userAgent) === 'curl').length, 'the staged rows lack their tool');
        let set = 0;
        for (let n = -1; n !== 0; set += n) n = await repo.backfillClientTools(61);
        assert.ok(set > 100 && set < 250, `${set} rows backfilled`);
        assert.equal(await repo.backfillClientTools(61), 0);
        let checked = 0;
        for (const filter of ['', 'group=eng', 'model=gpt-4o']) {
          for (const dim of ['group', 'client', 'finding', 'status', 'all'] as const) {
            const q: UsageQuery = { granularity: 'day', from: T0 - 86_400_000, to: T0 + 3 * 86_400_000, dim, filter };
            const report = usageReport(q, await repo.totals(q, 100), []);
            for (const row of report.totals) {
              const value = String(row.value);
              const label = `${engine} filter='${filter}' ${dim}=${value}`;
              const inFilter = (x: Generated) => (filter === '' || (filter.startsWith('group=') ? countsUnder(x, 'group', filter.slice(6)) : countsUnder(x, 'model', filter.slice(6))));
              const want = xs.filter((x) => inFilter(x) && countsUnder(x, dim, value)).map((x) => x.start.id).sort();
              assert.equal(row.requests, want.length, `${label}: the dashboard's count`);
              const query = row.exchanges as Record<string, unknown> | null;
              if (query === null) {
                // Only a group row under another group's filter cannot be listed (one group per list).
                assert.ok(filter === 'group=eng' && dim === 'group' && value !== 'eng', `${label}: has a link`);
                continue;
              }
              assert.deepEqual(await listed(store, query), want, `${label}: the list behind the number`);
              checked++;
              // The Refused and Errors numbers of the row: their own links, as the console's tiles follow them.
              const errors = xs.filter((x) => inFilter(x) && countsUnder(x, dim, value) && (ERRORS as readonly string[]).includes(x.finish.status)).map((x) => x.start.id).sort();
              assert.equal(row.errors, errors.length, `${label}: errors counted`);
              const errorsQuery = row.errors_exchanges as Record<string, unknown> | null;
              if (errorsQuery) assert.deepEqual(await listed(store, errorsQuery), errors, `${label}: the errors listed`);
              else assert.equal(errors.length, 0, `${label}: errors without a link (the row is of another status)`);
              const refused = xs.filter((x) => inFilter(x) && countsUnder(x, dim, value) && x.finish.status === 'rejected').map((x) => x.start.id).sort();
              assert.equal(row.refused, refused.length, `${label}: refusals counted`);
              const refusedQuery = row.refused_exchanges as Record<string, unknown> | null;
              if (refusedQuery) assert.deepEqual(await listed(store, refusedQuery), refused, `${label}: the refusals listed`);
              else assert.equal(refused.length, 0, `${label}: refusals without a link (the row is of another status)`);
            }
          }
        }
        assert.ok(checked > 40, `${engine}: ${checked} rows compared`);
        // Unknown values are refused in the API's error shape (invalid_request, 400), not matched as text.
        const bads: Record<string, string>[] = [{ status: 'completed,nope' }, { client_tool: 'Not A Tool' }, { finding_type: 'email' }, { group: 'a\u0007b' }, { group: 'x'.repeat(257) }];
        for (const bad of bads) {
          assert.throws(() => exchangeFilter(new URLSearchParams(bad)), (e: unknown) => e instanceof GatewayError && e.code === 'invalid_request' && e.status === 400, JSON.stringify(bad));
        }
      } finally {
        await stop();
      }
    });
  });
}

const engines = analyticsEngines({ prefix: 'pcl-xfilters-', tables: 'exchanges, usage_rollups, identities_seen' });
conformance('sqlite', engines.sqlite);
conformance('postgres', engines.postgres);
