import type { Principal } from '../core/principal.ts';
import type { ExchangeContext } from './context.ts';

/** A parsed SSE event as response transformers see it: `data` is the parsed JSON (or the `[DONE]` sentinel). */
export interface ParsedEvent {
  event?: string | undefined;
  data: unknown;
}

/** Rewrites one exchange's answer: whole JSON bodies or, for streams, event by event with bounded hold-back. */
export interface ResponseTransformer {
  /** A rewritten copy of a non-streamed body, or undefined when unchanged. */
  json(body: unknown): unknown;
  /** Events to emit for one upstream event (may be none while text is held back, or several). */
  onEvent(ev: ParsedEvent): ParsedEvent[];
  /** Flush at end of stream. */
  end(): ParsedEvent[];
}

/**
 * The decision + content seam of the pipeline: policy evaluation, detection, masking, tokenization, approvals
 * all plug in here. Throwing a GatewayError from `inspectRequest` refuses the request in the caller's protocol
 * (and the refusal is recorded). Implementations must fail closed.
 */
export interface ExchangeGuard {
  inspectRequest(ctx: ExchangeContext): Promise<void>;
  responseTransformer(ctx: ExchangeContext): ResponseTransformer | undefined;
  /** Models a principal may see in /v1/models. */
  filterModels(principal: Principal, models: string[]): string[];
}

/** Without a policy: every authenticated caller may use every routed model; content passes unchanged. */
export const openGuard: ExchangeGuard = {
  async inspectRequest(ctx) {
    // Keys in canonical order (the audit trail hashes this record: src/core/canonical-json.ts fast path).
    ctx.decision = {
      decisionId: `dec_${ctx.id.slice(3)}`,
      effect: 'allow',
      enforced: true,
      matchedRuleIds: [],
      policyVersion: null,
      reasons: [{ code: 'no_policy_configured' }],
    };
  },
  responseTransformer: () => undefined,
  filterModels: (_p, models) => models,
};
