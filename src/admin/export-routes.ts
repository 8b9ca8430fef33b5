import { GatewayError } from '../core/errors.ts';
import type { Route } from '../http/route.ts';
import { writeWithBackpressure } from '../http/write.ts';
import { exchangeSummary } from '../audit/exchange-view.ts';
import type { AuditLog } from '../audit/log.ts';
import { auditAdminAction } from '../audit/runtime.ts';
import type { ExchangeFilter, ExchangeRow, Store } from '../store/ports.ts';
import { queryOf, requireRole, type Authenticate } from './http.ts';
import { exchangeFilter } from './routes.ts';
import { terminalJsonText } from '../core/terminal-text.ts';

export interface ExportRouteDeps {
  store: Store;
  log: AuditLog;
  authenticate: Authenticate;
}

/** Rows per store read (the list's own maximum page). */
const PAGE = 1000;
/** Upper bound of one export; a larger history is exported in several time ranges. */
export const MAX_EXPORT_ROWS = 1_000_000;

/**
 * The metadata of a filtered exchange list as CSV or JSONL (docs/api.md), for auditors and admins: the same
 * filters as `GET /admin/v1/exchanges`, streamed page by page (never the whole list in memory), no bodies. The
 * export is chained as `exchanges.export` (with its filters) before the first byte leaves: if that entry cannot be
 * written the request fails and nothing is exported.
 */
export function exportRoutes(d: ExportRouteDeps): Route[] {
  return [{
    method: 'GET', path: '/admin/v1/exchanges/export',
    async handler(req, res) {
      const p = await requireRole(d.authenticate, req, ['admin', 'auditor']);
      const q = queryOf(req);
      const format = q.get('format') ?? 'csv';
      if (format !== 'csv' && format !== 'jsonl') throw new GatewayError('invalid_request', '`format` must be csv or jsonl.');
      const filter = exchangeFilter(q, MAX_EXPORT_ROWS);
      const max = filter.limit ?? MAX_EXPORT_ROWS;
      await auditAdminAction(d.log, {
        actor: p.subject, action: 'exchanges.export', target: null,
        details: exportDetails(filter, format, max),
      });
      res.writeHead(200, {
        'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/jsonl; charset=utf-8',
        'content-disposition': `attachment; filename="exchanges.${format}"`,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      try {
        for await (const line of exportLines(d.store, filter, format, max)) {
          if (res.destroyed) return;
          // A slow reader holds the export, not the gateway's memory.
          await writeWithBackpressure(res, line);
        }
      } catch (err) {
        // The status line is sent: a store failure mid-export ends the response without its last chunk, so the
        // client sees a broken download rather than a file that looks complete.
        res.destroy(err instanceof Error ? err : new Error('export failed'));
        return;
      }
      res.end();
    },
  }];
}

export type ExportFormat = 'csv' | 'jsonl';

/** An export's filters as its `exchanges.export` audit entry records them (the API's and the CLI's). */
export function exportDetails(f: ExchangeFilter, format: ExportFormat, limit: number): Record<string, string | number | null> {
  return {
    format, limit, subject: f.subject ?? null, model: f.model ?? null, status: typeof f.status === 'string' ? f.status : f.status?.join(',') ?? null,
    error_code: f.errorCode ?? null, group: f.group ?? null, client_tool: f.clientTool ?? null, finding_type: f.findingType ?? null,
    since: f.since ?? null, until: f.until ?? null, before: f.before ?? null,
  };
}

/**
 * The export's lines (the API's and `portcullis exchanges export`'s): a CSV header first, then one per exchange.
 * A JSONL line writes DEL, C1 and bidi controls as `\uHHHH` too (the same value, RFC 8259 §7), so `curl … | less`
 * or a terminal never acts on a recorded value; CSV cells stay exact (the CLI escapes them for a terminal).
 */
export async function* exportLines(store: Store, filter: ExchangeFilter, format: ExportFormat, max = MAX_EXPORT_ROWS): AsyncGenerator<string> {
  if (format === 'csv') yield csvLine(CSV_COLUMNS.map((c) => c[0]));
  for await (const row of rows(store, filter, max)) yield format === 'csv' ? csvLine(CSV_COLUMNS.map((c) => c[1](row))) : `${terminalJsonText(JSON.stringify(exchangeSummary(row)))}\n`;
}

/** Newest first, as the list; pages follow `before` (ids sort by time). */
async function* rows(store: Store, f: ExchangeFilter, max: number): AsyncGenerator<ExchangeRow> {
  let left = max;
  let before = f.before;
  while (left > 0) {
    const asked = Math.min(PAGE, left);
    const page = await store.exchanges.list({ ...f, before, limit: asked });
    for (const r of page) yield r;
    if (page.length < asked) return;
    left -= page.length;
    before = page[page.length - 1]!.id;
  }
}

type Cell = string | number | boolean | null | undefined;
const iso = (t: number | null | undefined): string | null => (typeof t === 'number' ? new Date(t).toISOString() : null);

/** A field of a recorded JSON object (principal, decision), if it has that shape. */
const at = (o: unknown, k: string): unknown => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined);
const scalar = (v: unknown): Cell => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : null);
const words = (v: unknown): string | null => (Array.isArray(v) ? v.map((x) => String(scalar(x) ?? '')).join(' ') : null);

/** One line per exchange: metadata only (who, what, when, the decision and the types of findings — never a value). */
const CSV_COLUMNS: readonly (readonly [string, (r: ExchangeRow) => Cell])[] = [
  ['id', (r) => r.id],
  ['started_at', (r) => iso(r.startedAt)],
  ['finished_at', (r) => iso(r.finishedAt)],
  ['subject', (r) => r.subject],
  ['principal_kind', (r) => scalar(at(r.principal, 'kind'))],
  ['groups', (r) => words(at(r.principal, 'groups'))],
  ['endpoint', (r) => r.endpoint],
  ['model', (r) => r.model],
  ['provider', (r) => r.provider],
  ['upstream_model', (r) => r.upstreamModel],
  ['stream', (r) => r.stream],
  ['status', (r) => r.status],
  ['forwarded', (r) => r.forwarded],
  ['http_status', (r) => r.httpStatus],
  ['error_code', (r) => r.errorCode],
  ['effect', (r) => scalar(at(r.decision, 'effect'))],
  ['reasons', (r) => reasons(at(r.decision, 'reasons'))],
  ['matched_rule_ids', (r) => words(at(r.decision, 'matchedRuleIds'))],
  ['policy_version', (r) => scalar(at(r.decision, 'policyVersion'))],
  ['finding_types', (r) => findingTypes(r)],
  ['input_tokens', (r) => r.usage?.inputTokens],
  ['output_tokens', (r) => r.usage?.outputTokens],
  ['total_ms', (r) => r.timings?.totalMs],
  ['client_ip', (r) => r.clientIp],
  ['user_agent', (r) => r.userAgent],
];

/** `code:rule` per reason (codes are a closed vocabulary, src/policy/reasons.ts). */
function reasons(v: unknown): string | null {
  if (!Array.isArray(v)) return null;
  return v.map((x) => (at(x, 'ruleId') ? `${String(scalar(at(x, 'code')))}:${String(scalar(at(x, 'ruleId')))}` : String(scalar(at(x, 'code'))))).join(' ');
}

/** `TYPE:action` per finding, request and response, in order; a finding's value never (records hold none). */
function findingTypes(r: ExchangeRow): string {
  return [...r.findings, ...(r.responseFindings ?? [])].map((f) => (f.action ? `${String(scalar(f.type))}:${String(scalar(f.action))}` : String(scalar(f.type)))).join(' ');
}

export function csvLine(cells: readonly Cell[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/**
 * RFC 4180 quoting, after neutralising formulas (OWASP "CSV injection"): a spreadsheet runs a cell that starts
 * with `=`, `+`, `-`, `@` (or a tab or carriage return followed by one), so such a cell gets a leading `'`, which
 * spreadsheets show as text. Recorded strings (a subject, a model name, a user agent) are client-influenced.
 */
export function csvCell(v: Cell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}
