import type { Effect } from '../policy/document.ts';
import { NO_FEATURES, type RequestFeatures } from '../policy/input.ts';
import { simulate, type RecordedDecision, type SimulationReport } from '../policy/simulate.ts';
import type { PrincipalKind } from '../core/principal.ts';
import type { ExchangeRepo, ExchangeRow } from '../store/ports.ts';
import type { PolicyLoader, PolicyService } from './policy-service.ts';

export interface PolicySimulatorOptions {
  exchanges: Pick<ExchangeRepo, 'list'>;
  service: PolicyService;
  load: PolicyLoader;
}

/** The simulation as the admin API answers it (snake_case like the rest of the API). */
export interface SimulationResult extends Omit<SimulationReport, 'byRule'> {
  by_rule: SimulationReport['byRule'];
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
 * using no bounded feature). Token claims are not recorded, so claim conditions see none.
 */
export class PolicySimulator {
  readonly #o: PolicySimulatorOptions;
  constructor(o: PolicySimulatorOptions) {
    this.#o = o;
  }

  async simulate(q: { ref: string; since: number; until: number; limit: number }): Promise<SimulationResult> {
    const v = await this.#o.service.resolve(q.ref);
    const engine = this.#o.load(v.source, `v${v.number}`, v.id).engine;
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
        const r = recordedDecision(row);
        if (r) records.push(r);
        else skipped++;
      }
      if (truncated || rows.length < PAGE) break;
      before = rows[rows.length - 1]!.id;
    }
    // The answer is an API body: snake_case like the rest of the admin API.
    const { byRule, ...report } = simulate(engine, records);
    return { version: { id: v.id, number: v.number }, window: { since: new Date(q.since).toISOString(), until: new Date(q.until).toISOString() }, skipped, truncated, ...report, by_rule: byRule };
  }
}

/** Rebuilds the policy input of a recorded exchange; undefined when it never reached a decision (no model, no caller) or is an MCP call. */
export function recordedDecision(row: ExchangeRow): RecordedDecision | undefined {
  if (!row.model || !row.subject || !row.principal) return undefined;
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
      principal: { subject: row.subject, kind: (p.kind as PrincipalKind | undefined) ?? 'user', groups: Array.isArray(p.groups) ? (p.groups as string[]) : [] },
      resource: { provider: row.provider ?? '', model: row.model, endpoint: row.endpoint },
      request: { ...NO_FEATURES, stream: row.stream, ...input.request },
      context: { now: row.startedAt, clientIp: row.clientIp ?? undefined, userAgent: row.userAgent ?? undefined },
      findings: row.findings.map((f) => ({ type: String(f.type) })),
      label: input.label ?? undefined,
    },
    before: { effect, model: route?.to && route.applied !== false ? route.to : row.model },
  };
}
