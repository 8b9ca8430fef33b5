import { parse } from '../context.ts';
import { adminTarget } from '../admin-target.ts';
import { print, printJson, UsageError, type CliCommand } from '../io.ts';
import { IDENTITIES_USAGE, runIdentities } from './analytics-identities.ts';

/**
 * `portcullis analytics`: usage by time bucket and one dimension from a running gateway's rollups
 * (`GET /admin/v1/analytics/usage`, docs/analytics.md); `analytics identities`: the identities and groups seen
 * (analytics-identities.ts). Gateway and credential as src/cli/admin-target.ts finds them.
 */
export const analyticsCommand: CliCommand = {
  summary: 'show usage (requests, tokens, cost, refusals, findings, latency; or approvals) by user, group, model, client, …; or the identities seen',
  usage: `portcullis analytics [--by DIM] [--since 24h|ISO] [--until ISO] [--granularity minute|hour|day] [--group G | --model M] [--limit N] [--series] [--approvals] [--gateway URL] [--key-file PATH] [--json]\n       ${IDENTITIES_USAGE}`,
  async run(args, io) {
    if (args[0] === 'identities') return runIdentities(args.slice(1), io);
    const { values, positionals } = parse(args, {
      by: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, granularity: { type: 'string' }, group: { type: 'string' },
      model: { type: 'string' }, limit: { type: 'string' }, series: { type: 'boolean' }, approvals: { type: 'boolean' }, gateway: { type: 'string' }, 'key-file': { type: 'string' }, json: { type: 'boolean' },
    });
    if (positionals.length > 0) throw new UsageError('unexpected arguments');
    const { gateway, token } = await adminTarget(io, { gateway: values.gateway, keyFile: values['key-file'] });
    const url = new URL('/admin/v1/analytics/usage', gateway);
    for (const k of ['by', 'since', 'until', 'granularity', 'group', 'model', 'limit'] as const) if (values[k]) url.searchParams.set(k, values[k]);
    const r = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
    const body = (await r.json()) as { totals?: Row[]; series?: Row[]; by?: string; error?: { message?: string } };
    if (r.status !== 200 || !body.totals) {
      print(io.stderr, `the gateway refused: ${r.status} ${body.error?.message ?? ''}`);
      return 1;
    }
    if (values.json) {
      printJson(io.stdout, body);
      return 0;
    }
    const rows = values.series ? body.series ?? [] : body.totals;
    if (rows.length === 0) {
      print(io.stdout, 'no usage in that range');
      return 0;
    }
    const first = values.series ? `${'BUCKET'.padEnd(24)} ` : '';
    if (values.approvals) {
      printApprovals(io.stdout, first, (body.by ?? 'all').toUpperCase(), rows, Boolean(values.series));
      return 0;
    }
    print(io.stdout, `${first}${(body.by ?? 'all').toUpperCase().padEnd(28)} ${'REQUESTS'.padStart(9)} ${'IN TOKENS'.padStart(11)} ${'OUT TOKENS'.padStart(11)} ${'COST $'.padStart(10)} ${'REFUSED'.padStart(8)} ${'ERRORS'.padStart(7)} ${'FINDINGS'.padStart(8)} ${'P50 MS'.padStart(7)} ${'P95 MS'.padStart(7)}`);
    for (const x of rows) {
      const lead = values.series ? `${String(x.bucket).padEnd(24)} ` : '';
      print(io.stdout, `${lead}${(x.value === '' ? '(all)' : x.value).padEnd(28)} ${n(x.requests).padStart(9)} ${n(x.input_tokens).padStart(11)} ${n(x.output_tokens).padStart(11)} ${x.cost_usd.toFixed(4).padStart(10)} ${n(x.refused).padStart(8)} ${n(x.errors).padStart(7)} ${n(x.findings).padStart(8)} ${n(x.latency_ms.p50).padStart(7)} ${n(x.latency_ms.p95).padStart(7)}`);
    }
    return 0;
  },
};

/**
 * The approvals columns (docs/analytics.md#approvals): counts, then the time to decision in minutes — the exact mean,
 * and p50/p95 as the upper bound of their histogram bucket.
 */
function printApprovals(out: NodeJS.WritableStream, first: string, dim: string, rows: Row[], series: boolean): void {
  const min = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : (v / 60_000).toFixed(1));
  print(out, `${first}${dim.padEnd(28)} ${'REQUESTED'.padStart(9)} ${'APPROVED'.padStart(8)} ${'DENIED'.padStart(6)} ${'EXPIRED'.padStart(7)} ${'CANCELLED'.padStart(9)} ${'AVG MIN'.padStart(8)} ${'P50 MIN'.padStart(8)} ${'P95 MIN'.padStart(8)}`);
  for (const x of rows) {
    const a = x.approvals;
    if (!a) continue;
    const t = a.time_to_decision_ms;
    const lead = series ? `${String(x.bucket).padEnd(24)} ` : '';
    print(out, `${lead}${(x.value === '' ? '(all)' : x.value).padEnd(28)} ${String(a.requested).padStart(9)} ${String(a.approved).padStart(8)} ${String(a.denied).padStart(6)} ${String(a.expired).padStart(7)} ${String(a.cancelled).padStart(9)} ${min(t.avg).padStart(8)} ${min(t.p50).padStart(8)} ${min(t.p95).padStart(8)}`);
  }
}

interface Row {
  bucket?: string;
  value: string;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  refused: number;
  errors: number;
  findings: number;
  latency_ms: { p50: number | null; p95: number | null };
  approvals?: { requested: number; approved: number; denied: number; expired: number; cancelled: number; time_to_decision_ms: { avg: number | null; p50: number | null; p95: number | null } };
}

const n = (v: number | null): string => (v === null ? '-' : String(v));
