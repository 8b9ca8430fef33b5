import { openClaims } from '../audit/claims-snapshot.ts';
import { openRecordedBody } from '../audit/recording.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { Effect } from '../policy/document.ts';
import { NO_FEATURES, type RequestFeatures } from '../policy/input.ts';
import { mcpTarget } from '../policy/mcp.ts';
import { simulate, type RecordedDecision, type SimulationReport } from '../policy/simulate.ts';
import type { PrincipalKind } from '../core/principal.ts';
import type { ExchangeRepo, ExchangeRow } from '../store/ports.ts';
import type { PolicyLoader, PolicyService } from './policy-service.ts';

export interface PolicySimulatorOptions {
  exchanges: Pick<ExchangeRepo, 'list' | 'bodies' | 'messages'>;
  service: PolicyService;
  load: PolicyLoader;
  /** Opens the sealed request of an MCP record: its method, tool, arguments and resource are the rules' input. */
  keyring: Keyring;
}

/** The simulation as the admin API answers it (snake_case like the rest of the API). */
export interface SimulationResult extends Omit<SimulationReport, 'byRule' | 'records'> {
  by_rule: SimulationReport['byRule'];
  records: { exchange_id: string; change: string; before: { effect: Effect; rules: string[] }; after: { effect: Effect; rules: string[] } }[];
  version: { id: string; number: number };
  window: { since: string; until: string };
  skipped: number;
  truncated: boolean;
}

const PAGE = 1000;

/**
 * `portcullis policy simulate`: replays the decisions of recorded exchanges under a candidate version. The input
 * is rebuilt from the record: principal snapshot, model, endpoint, finding types, client address and agent, and
 * the request features the deciding policy stored with its decision (exchanges recorded without a policy count as
 * using no bounded feature), and the caller's claims from the sealed snapshot in the decision
 * (src/audit/claims-snapshot.ts; records made before it existed replay with none). MCP requests (`mcp.*`) are
 * replayed through the candidate's `mcp:` rules with the method, tool, arguments and resource read from the sealed
 * request, the claims likewise, the definition hash and finding types from the record.
 */
export class PolicySimulator {
  readonly #o: PolicySimulatorOptions;
  constructor(o: PolicySimulatorOptions) {
    this.#o = o;
  }

  async simulate(q: { ref: string; since: number; until: number; limit: number }): Promise<SimulationResult> {
    const v = await this.#o.service.resolve(q.ref);
    const loaded = this.#o.load(v.source, `v${v.number}`, v.id);
    const records: RecordedDecision[] = [];
    let skipped = 0;
    let before: string | undefined;
    let truncated = false;
    for (;;) {
      const rows = await this.#o.exchanges.list({ since: q.since, until: q.until, before, limit: PAGE });
      for (const row of rows) {
        if (records.length >= q.limit) {
          truncated = true;
          break;
        }
        const r = row.endpoint.startsWith('mcp.') ? recordedMcpDecision(row, await this.#request(row), openClaims(this.#o.keyring, row.id, row.decision?.claims)) : recordedDecision(row, openClaims(this.#o.keyring, row.id, row.decision?.claims));
        if (r) records.push(r);
        else skipped++;
      }
      if (truncated || rows.length < PAGE) break;
      before = rows[rows.length - 1]!.id;
    }
    // The answer is an API body: snake_case like the rest of the admin API.
    const { byRule, records: changed, ...report } = simulate({ llm: loaded.engine, mcp: loaded.mcp }, records);
    return {
      version: { id: v.id, number: v.number }, window: { since: new Date(q.since).toISOString(), until: new Date(q.until).toISOString() }, skipped, truncated, ...report, by_rule: byRule,
      records: changed.map((c) => ({ exchange_id: c.exchangeId, change: c.change, before: c.before, after: c.after })),
    };
  }

  /** The JSON-RPC request an MCP record sealed; undefined when its body is gone (retention) or unreadable. */
  async #request(row: ExchangeRow): Promise<unknown> {
    try {
      const sealed = (await this.#o.exchanges.bodies(row.id))?.clientRequest;
      if (!sealed) return undefined;
      return JSON.parse((await openRecordedBody(this.#o.keyring, this.#o.exchanges, row.id, 'client_request', sealed)).toString('utf8'));
    } catch {
      return undefined;
    }
  }
}

/**
 * Rebuilds the `mcp:` input of a recorded MCP request from the record, its sealed JSON-RPC body and its sealed
 * claims; undefined when it never reached a decision, or its body or claims cannot be read (replaying without them
 * could report false changes).
 */
export function recordedMcpDecision(row: ExchangeRow, request: unknown, claims: Record<string, unknown> | undefined): RecordedDecision | undefined {
  const d = row.decision;
  if (!row.subject || !row.principal || !d || !row.provider?.startsWith('mcp:') || !claims) return undefined;
  if (typeof request !== 'object' || request === null || typeof (request as { method?: unknown }).method !== 'string') return undefined;
  const method = (request as { method: string }).method;
  const raw = (request as { params?: unknown }).params;
  const params = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : undefined;
  const args = params?.arguments;
  const p = row.principal;
  const effect: Effect = d.effect === 'deny' || d.effect === 'require_approval' ? d.effect : 'allow';
  return {
    exchangeId: row.id, kind: 'mcp',
    input: {
      principal: { subject: row.subject, kind: (p.kind as PrincipalKind | undefined) ?? 'user', groups: Array.isArray(p.groups) ? (p.groups as string[]) : [], claims },
      server: row.provider.slice('mcp:'.length), method,
      tool: method === 'tools/call' && typeof params?.name === 'string'
        ? { name: params.name, arguments: typeof args === 'object' && args !== null && !Array.isArray(args) ? (args as Record<string, unknown>) : {}, hash: typeof d.toolHash === 'string' ? d.toolHash : null }
        : undefined,
      target: mcpTarget(method, params),
      context: { now: row.startedAt, clientIp: row.clientIp ?? undefined, userAgent: row.userAgent ?? undefined },
      // The findings the rules saw: those of the request (restored placeholders included), never the answer's.
      findings: row.findings.map((f) => ({ type: String(f.type) })),
    },
    before: { effect, model: row.model ?? '', rules: decidingRules(d) },
  };
}

function decidingRules(d: Record<string, unknown>): string[] {
  const reasons = Array.isArray(d.reasons) ? (d.reasons as { code?: unknown; ruleId?: unknown }[]) : [];
  return [...new Set(reasons.map((r) => (typeof r.ruleId === 'string' ? r.ruleId : `(${String(r.code)})`)))];
}

/**
 * Rebuilds the policy input of a recorded exchange; undefined when it never reached a decision (no model, no caller),
 * is an MCP call, or its sealed claims cannot be opened.
 */
export function recordedDecision(row: ExchangeRow, claims: Record<string, unknown> | undefined = {}): RecordedDecision | undefined {
  if (!row.model || !row.subject || !row.principal || !claims) return undefined;
  // MCP calls (`mcp.*`) are decided by the `mcp:` rules, not these: replaying them here would report false changes.
  if (row.endpoint.startsWith('mcp.')) return undefined;
  const p = row.principal;
  const d = row.decision ?? {};
  const input = (d.input ?? {}) as { request?: Partial<RequestFeatures>; label?: string | null };
  const route = d.route as { from?: string; to?: string; applied?: boolean } | undefined;
  const effect: Effect = d.effect === 'deny' || d.effect === 'require_approval' ? d.effect : row.status === 'rejected' && row.errorCode === 'model_not_allowed' ? 'deny' : 'allow';
  return {
    exchangeId: row.id,
    input: {
      principal: { subject: row.subject, kind: (p.kind as PrincipalKind | undefined) ?? 'user', groups: Array.isArray(p.groups) ? (p.groups as string[]) : [], claims },
      resource: { provider: row.provider ?? '', model: row.model, endpoint: row.endpoint },
      request: { ...NO_FEATURES, stream: row.stream, ...input.request },
      context: { now: row.startedAt, clientIp: row.clientIp ?? undefined, userAgent: row.userAgent ?? undefined },
      findings: row.findings.map((f) => ({ type: String(f.type) })),
      label: input.label ?? undefined,
    },
    before: { effect, model: route?.to && route.applied !== false ? route.to : row.model, rules: decidingRules(d) },
  };
}
