import type { IncomingHttpHeaders } from 'node:http';
import type { Finding } from '../core/findings.ts';
import type { Principal } from '../core/principal.ts';
import type { Endpoint } from './endpoints.ts';
import type { ResolvedRoute } from './routes.ts';

/** The policy decision as recorded with an exchange (closed-vocabulary reasons, deciding rule ids). */
export interface DecisionRecord {
  decisionId: string;
  policyVersion: string | null;
  effect: 'allow' | 'deny' | 'require_approval';
  enforced: boolean;
  reasons: { code: string; ruleId?: string; detail?: string }[];
  matchedRuleIds: string[];
  sensitivity?: string | null;
  [extra: string]: unknown;
}

/**
 * Everything the pipeline knows about one exchange while it runs. Steps read it and fill their part; the
 * client's parsed body is never mutated (a changed upstream body is a copy in `upstreamBody`).
 */
export interface ExchangeContext {
  readonly id: string;
  readonly startedAt: number;
  readonly endpoint: Endpoint;
  readonly principal: Principal;
  readonly headers: IncomingHttpHeaders;
  readonly clientIp: string | undefined;
  readonly userAgent: string | undefined;
  readonly body: Readonly<Record<string, unknown>>;
  readonly model: string;
  readonly stream: boolean;
  /** The route chosen; a policy may reroute (sensitivity). */
  route: ResolvedRoute;
  /** Set when a step changed what goes upstream (masking, tokenization, template rendering). */
  upstreamBody: Record<string, unknown> | undefined;
  decision: DecisionRecord | undefined;
  findings: Finding[];
  responseFindings: Finding[];
  /** Called when the exchange ends, however it ends (release budgets, close vaults). */
  readonly cleanups: (() => void)[];
  /** Set by the pipeline: lets a step that holds the request (approvals) see a disconnect and keep a stream alive. */
  hold?: ExchangeHold;
}

export interface ExchangeHold {
  /** Aborts when the client goes away. */
  readonly signal: AbortSignal;
  /** Streams: sends SSE headers (once) and a `: waiting for approval` comment. No-op for non-streamed requests. */
  keepAlive(): void;
}
