import { clientFamily } from '../../analytics/client-family.ts';
import type { ExchangeFinish, ExchangeStart } from '../ports.ts';
import type { StartMessageCols } from './messages.ts';

/**
 * What crosses from the main thread to the store worker for an exchange's start and finish: the column values,
 * JSON columns already serialized. A flat array of strings, numbers and the sealed bytes is cheaper to clone
 * (structured clone) than the nested record, and the worker binds it to its statement as is (core.ts).
 *
 * Start: the values in INSERT column order (exchangesStart).
 */
export type StartRow = [
  id: string, startedAt: number, subject: string | null, principalJson: string | null, endpoint: string, method: string, path: string,
  model: string | null, provider: string | null, upstreamModel: string | null, stream: number, clientIp: string | null, userAgent: string | null,
  decisionJson: string | null, findingsJson: string, clientRequest: Uint8Array | null, upstreamRequest: Uint8Array | null, owner: string | null,
  clientTool: string,
  ...messages: StartMessageCols,
];

/** How many of a start row's values are exchange columns (the rest are its messages, messages.ts). */
export const START_COLUMNS = 19;

/** The values of an exchange's finish, in UPDATE parameter order (see exchangesFinish); the id is last. */
export type FinishRow = [
  status: string, httpStatus: number | null, errorCode: string | null, finishedAt: number, timingsJson: string, usageJson: string,
  eventCount: number, responseFindingsJson: string, response: Uint8Array | null, forwarded: number | null, id: string,
];

export function startRow(r: ExchangeStart): StartRow {
  const m = r.messages;
  return [
    r.id, r.startedAt, r.subject, json(r.principal), r.endpoint, r.method, r.path, r.model, r.provider, r.upstreamModel,
    r.stream ? 1 : 0, r.clientIp, r.userAgent, json(r.decision), JSON.stringify(r.findings), r.clientRequest, r.upstreamRequest, r.owner ?? null,
    clientFamily(r.userAgent),
    m?.scope ?? null, m?.reused ?? 0, m ? m.added.map((a) => a.ref) : [], m ? m.added.map((a) => a.sealed) : [],
  ];
}

export function finishRow(f: ExchangeFinish): FinishRow {
  return [
    f.status, f.httpStatus, f.errorCode, f.finishedAt, JSON.stringify(f.timings), JSON.stringify(f.usage), f.eventCount,
    JSON.stringify(f.responseFindings), f.response, f.forwarded === null ? null : f.forwarded ? 1 : 0, f.id,
  ];
}

function json(v: unknown): string | null {
  return v === null || v === undefined ? null : JSON.stringify(v);
}
