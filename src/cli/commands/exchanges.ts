import { exchangeDecisionView, exchangeDetail, exchangeSummary, PROVIDER_RECEIVED_TEXT, providerReceived } from '../../audit/exchange-view.ts';
import { once, type EventEmitter } from 'node:events';
import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { exchangeFilter } from '../../admin/routes.ts';
import { exportDetails, exportLines, MAX_EXPORT_ROWS } from '../../admin/export-routes.ts';
import type { ExchangeFilter } from '../../store/ports.ts';
import { openStoreSession, parse } from '../context.ts';
import { chainCliAction } from '../audited.ts';
import { explainExchange } from './explain.ts';
import { print, printJson, UsageError, writeLines, type CliCommand } from '../io.ts';
import { terminalCsvRecord } from '../../core/terminal-text.ts';

/** The filter options of `list` and `export`, with the query parameter of GET /admin/v1/exchanges each one is. */
const FILTER_OPTIONS = [
  ['subject', 'subject'], ['model', 'model'], ['status', 'status'], ['error-code', 'error_code'], ['group', 'group'], ['client-tool', 'client_tool'],
  ['finding-type', 'finding_type'], ['since', 'since'], ['until', 'until'], ['limit', 'limit'],
] as const;
type FilterOption = (typeof FILTER_OPTIONS)[number][0];
const FILTER_USAGE = '[--subject S] [--model M] [--status S[,S…]] [--error-code C] [--group G] [--client-tool T] [--finding-type F] [--since ISO] [--until ISO] [--limit N]';

export const exchangesCommand: CliCommand = {
  summary: 'list and inspect recorded exchanges',
  usage: `portcullis exchanges list ${FILTER_USAGE} [--json] [--config FILE]\n       portcullis exchanges show ID [--json] [--config FILE]\n       portcullis exchanges explain ID [--json] [--config FILE]\n       portcullis exchanges export [--format csv|jsonl] ${FILTER_USAGE} [--out FILE] [--config FILE]`,
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parse(rest, {
      ...Object.fromEntries(FILTER_OPTIONS.map(([o]) => [o, { type: 'string' }])) as Record<FilterOption, { type: 'string' }>,
      json: { type: 'boolean' }, format: { type: 'string' }, out: { type: 'string' },
    });
    if (sub !== 'list' && sub !== 'show' && sub !== 'explain' && sub !== 'export') throw new UsageError('expected list, show, explain or export');
    if (sub !== 'list' && sub !== 'export' && positionals.length !== 1) throw new UsageError('give the exchange id');
    if (sub === 'export') return exportExchanges(values, io);
    const s = await openStoreSession(values.config, io);
    try {
      if (sub === 'explain') {
        const row = await s.store.exchanges.get(positionals[0]!);
        if (!row) {
          print(io.stderr, `no exchange ${positionals[0]}`);
          return 1;
        }
        if (values.json) printJson(io.stdout, { id: row.id, ...exchangeDecisionView(row) });
        else for (const line of explainExchange(row)) print(io.stdout, line);
        return 0;
      }
      if (sub === 'show') {
        // Recorded bodies are decrypted below: chained first, like every view of content (fails closed).
        if (!(await s.store.exchanges.get(positionals[0]!))) {
          print(io.stderr, `no exchange ${positionals[0]}`);
          return 1;
        }
        await chainCliAction(s, { action: 'exchange.view', target: positionals[0]! });
        const d = await exchangeDetail(s.store, s.keyring, positionals[0]!);
        if (!d) {
          print(io.stderr, `no exchange ${positionals[0]}`);
          return 1;
        }
        if (values.json) printJson(io.stdout, d);
        else printHuman(io.stdout, d);
        return 0;
      }
      const rows = await s.store.exchanges.list(cliFilter(values, 1000));
      const list = rows.map(exchangeSummary);
      if (values.json) printJson(io.stdout, list);
      else for (const r of rows) print(io.stdout, `${r.id}  ${new Date(r.startedAt).toISOString()}  ${(r.subject ?? '-').padEnd(24)} ${r.endpoint.padEnd(20)} ${(r.model ?? '-').padEnd(20)} ${r.status} ${r.httpStatus ?? ''}`);
      return 0;
    } finally {
      await s.close();
    }
  },
};

/** The options as the API's query, read and checked by the API's own exchangeFilter (same values, same refusals). */
function cliFilter(values: Record<string, string | boolean | undefined>, maxLimit: number): ExchangeFilter {
  const q = new URLSearchParams();
  for (const [option, param] of FILTER_OPTIONS) if (typeof values[option] === 'string') q.set(param, values[option]);
  try {
    return exchangeFilter(q, maxLimit);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * The API's export (GET /admin/v1/exchanges/export) on the store directly: the same filters, lines and CSV
 * neutralising, chained as `exchanges.export` before the first line is written.
 */
async function exportExchanges(values: Record<string, string | boolean | undefined>, io: Parameters<CliCommand['run']>[1]): Promise<number> {
  const format = values.format ?? 'csv';
  if (format !== 'csv' && format !== 'jsonl') throw new UsageError('--format must be csv or jsonl');
  const filter = cliFilter(values, MAX_EXPORT_ROWS);
  const s = await openStoreSession(values.config as string | undefined, io);
  try {
    const max = filter.limit ?? MAX_EXPORT_ROWS;
    await chainCliAction(s, {
      action: 'exchanges.export', target: null,
      details: exportDetails(filter, format, max),
    });
    const out = typeof values.out === 'string' ? createWriteStream(resolve(io.cwd, values.out), { mode: 0o600 }) : io.stdout;
    const lines = exportLines(s.store, filter, format, max);
    // To a terminal (stdout) a CSV cell's controls are shown escaped like every printed value; a file keeps them exact.
    await writeLines(out, out === io.stdout && format === 'csv' ? mapLines(lines, terminalCsvRecord) : lines);
    if (out !== io.stdout) {
      (out as NodeJS.WritableStream).end();
      await once(out as NodeJS.WritableStream & EventEmitter, 'finish');
    }
    return 0;
  } finally {
    await s.close();
  }
}

async function* mapLines(lines: AsyncIterable<string>, f: (line: string) => string): AsyncGenerator<string> {
  for await (const line of lines) yield f(line);
}


function printHuman(out: NodeJS.WritableStream, d: Record<string, unknown>): void {
  for (const k of ['id', 'started_at', 'subject', 'endpoint', 'model', 'provider', 'upstream_model', 'stream', 'status', 'forwarded', 'http_status', 'error_code']) {
    print(out, `${k.padEnd(16)} ${JSON.stringify(d[k])}`);
  }
  print(out, `timings          ${JSON.stringify(d.timings)}`);
  print(out, `usage            ${JSON.stringify(d.usage)}`);
  print(out, `decision         ${JSON.stringify(d.decision)}`);
  const link = d.correlation as { exchange_id: string; tool_call_id: string } | null | undefined;
  if (link) print(out, `correlation      tool call ${JSON.stringify(link.tool_call_id)} of model exchange ${link.exchange_id}`);
  print(out, `client_request   ${JSON.stringify(d.client_request)}`);
  const received = providerReceived(d);
  print(out, `upstream_request ${received === 'changed' ? JSON.stringify(d.upstream_request) : `(${PROVIDER_RECEIVED_TEXT[received]})`}`);
  if (d.response) print(out, `response         ${JSON.stringify(d.response)}`);
  const events = d.events as { t_ms: number; event: string | null; data: string }[];
  for (const e of events) print(out, `  +${e.t_ms.toFixed(1).padStart(8)}ms ${e.event ?? ''} ${e.data}`);
}
