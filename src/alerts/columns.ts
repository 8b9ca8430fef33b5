import type { AlertSource } from './types.ts';

/** The exchange columns the alert evaluator reads; JSON columns arrive as text (SQLite) or parsed (PostgreSQL jsonb). */
export const ALERT_SOURCE_COLUMNS = 'id, started_at, finished_at, subject, principal_json, model, user_agent, client_ip, status, error_code, usage_json, findings_json, response_findings_json';

const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);
const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const count = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function alertSourceOfRow(r: Record<string, unknown>): AlertSource {
  const principal = (json(r.principal_json) ?? {}) as { groups?: unknown; credentialId?: unknown };
  const usage = (json(r.usage_json) ?? {}) as { inputTokens?: unknown; outputTokens?: unknown };
  const types = (v: unknown): string[] => ((json(v) ?? []) as { type?: unknown }[]).map((f) => text(f.type) ?? 'UNKNOWN');
  return {
    id: String(r.id), at: Number(r.finished_at ?? r.started_at), subject: text(r.subject),
    groups: Array.isArray(principal.groups) ? principal.groups.filter((g): g is string => typeof g === 'string') : [],
    credentialId: text(principal.credentialId), model: text(r.model), userAgent: text(r.user_agent), clientIp: text(r.client_ip),
    status: text(r.status) ?? '', errorCode: text(r.error_code), inputTokens: count(usage.inputTokens), outputTokens: count(usage.outputTokens),
    findingTypes: [...types(r.findings_json), ...types(r.response_findings_json)],
  };
}
