import { GatewayError } from '../core/errors.ts';
import type { Finding } from '../core/findings.ts';
import type { Principal } from '../core/principal.ts';
import type { ActionResolver } from '../detect/actions.ts';
import { createRequestTransform, createResponseTransform, createStreamRewriter, type Api, type ContentFinding, type ContentOptions } from '../detect/content/index.ts';
import { ConversationTokenizer } from '../detect/tokenize/tokenizer.ts';
import type { TokenVault } from '../detect/tokenize/vault.ts';
import type { Scanner } from '../detect/types.ts';
import { ScanCache } from '../detect/scan-cache.ts';
import { SESSION_HEADER, sessionHintOf } from '../audit/observer.ts';
import type { DecisionRecord, ExchangeContext } from '../proxy/context.ts';
import type { EndpointId } from '../proxy/endpoints.ts';
import type { ExchangeGuard, ResponseTransformer } from '../proxy/guard.ts';

/** Compiled content controls of the active policy version: what to look for and what to do with it. */
export interface ContentPolicy {
  scanners: { request?: Scanner | undefined; response?: Scanner | undefined };
  actionFor: ActionResolver;
  unterminated?: 'block' | 'mask';
  /** Whether any rule tokenizes (then the conversation's vault is loaded and saved). */
  tokenizes: boolean;
  /** Asks the external recognizer about the request's texts first; returns the request scanner for this exchange. */
  prescan?: ((api: Api, body: unknown, base: Scanner) => Promise<Scanner>) | undefined;
}

/**
 * The policy engine as the guard needs it: one decision per exchange, with the findings already known. May be
 * async (budget, template and approval hooks run inside it); it may reroute (`ctx.route`) and set `ctx.upstreamBody`.
 */
export interface PolicyDecider {
  decide(ctx: ExchangeContext, findings: readonly Finding[]): (DecisionRecord & { error?: GatewayError }) | Promise<DecisionRecord & { error?: GatewayError }>;
  filterModels(principal: Principal, models: string[]): string[];
}

/**
 * Rewrites the request before anything looks at it (an approved prompt template rendered from its variables): the
 * result is what detection scans, the policy judges and the provider receives. Returns facts for the decision.
 */
export type RequestPreparer = (ctx: ExchangeContext) => Promise<Record<string, unknown> | undefined>;

export interface GovernedGuardOptions {
  content: ContentPolicy | undefined;
  decider: PolicyDecider | undefined;
  vault: TokenVault;
  prepare?: RequestPreparer | undefined;
  /** Reuse scan results of unchanged texts within a conversation (src/detect/scan-cache.ts; default on). */
  scanCache?: boolean;
}

/** Header a client sets to keep tokenization placeholders stable across the turns of one conversation. */
export const CONVERSATION_HEADER = 'x-portcullis-conversation';

const CONTENT_API: Partial<Record<EndpointId, Api>> = {
  'openai.chat': 'openai.chat',
  'openai.responses': 'openai.responses',
  'openai.embeddings': 'openai.embeddings',
  'openai.completions': 'openai.completions',
  'anthropic.messages': 'anthropic.messages',
  'anthropic.count_tokens': 'anthropic.messages',
};

interface ExchangeState {
  api: Api;
  opts: ContentOptions;
}

/**
 * One guard per compiled policy version (activation swaps the guard; exchanges in flight keep theirs).
 * Request: render a template (if invoked) → detect → act (mask/redact/tokenize) → decide (policy, with the findings) → refuse or forward the copy.
 * Response: the same controls on the answer, JSON or stream, restoring this conversation's placeholders.
 * Every failure of a control refuses (fail closed).
 */
export function createGovernedGuard(o: GovernedGuardOptions): ExchangeGuard {
  const states = new WeakMap<ExchangeContext, ExchangeState>();
  // Per policy version (this guard): unchanged earlier messages of a conversation are not scanned again.
  const scanCache = o.scanCache === false ? undefined : new ScanCache();
  return {
    async inspectRequest(ctx) {
      const api = CONTENT_API[ctx.endpoint.id];
      let blocked: GatewayError | undefined;
      let tokenizer: ConversationTokenizer | undefined;
      const conversation = conversationScope(ctx);
      const prepared = o.prepare ? await o.prepare(ctx) : undefined;
      if (o.content && api) {
        if (o.content.tokenizes) tokenizer = await loadTokenizer(o.vault, conversation);
        const body = ctx.upstreamBody ?? ctx.body;
        let scanners = o.content.scanners;
        if (o.content.prescan && scanners.request) scanners = { ...scanners, request: await o.content.prescan(api, body, scanners.request) };
        // An external pre-scan is per exchange: its merged scanner is not cached.
        else if (scanCache && scanners.request) {
          const key = scanConversation(ctx);
          if (key) scanners = { ...scanners, request: scanCache.scanner(key, scanners.request) };
        }
        const opts: ContentOptions = { scanners, actionFor: o.content.actionFor, tokenizer, unterminated: o.content.unterminated };
        const r = createRequestTransform(api, opts)(body);
        ctx.findings = r.findings.map(summary);
        blocked = r.blocked;
        // Token ids (embeddings/completions input as numbers) cannot be inspected: under request scanning they are
        // refused rather than forwarded unchecked (fail closed).
        if (!blocked && scanners.request && r.unscanned.length > 0) {
          blocked = new GatewayError('invalid_request', `Content inspection cannot read token ids (${r.unscanned.slice(0, 3).join(', ')}); send the input as text.`, { details: { param: r.unscanned[0] } });
        }
        if (r.changed) ctx.upstreamBody = r.body as Record<string, unknown>;
        states.set(ctx, { api, opts });
      }
      const decision = o.decider ? await decideFailClosed(o.decider, ctx) : allowWithoutPolicy(ctx);
      if (prepared) Object.assign(decision, prepared);
      ctx.decision = decision;
      if (decision.error && decision.enforced) throw decision.error;
      if (blocked) throw blocked;
      if (tokenizer) await saveTokenizer(o.vault, conversation, tokenizer);
      // A changed copy must still carry the upstream model name (renamed or rerouted routes).
      const up = ctx.upstreamBody;
      if (up && ctx.endpoint.routed && up.model !== ctx.route.upstreamModel) ctx.upstreamBody = { ...up, model: ctx.route.upstreamModel };
    },

    responseTransformer(ctx) {
      const state = states.get(ctx);
      if (!state || (!state.opts.scanners.response && !state.opts.tokenizer)) return undefined;
      if (ctx.endpoint.id === 'anthropic.count_tokens') return undefined;
      return responseTransformer(ctx, state);
    },

    filterModels: (principal, models) => (o.decider ? o.decider.filterModels(principal, models) : models),
  };
}

function responseTransformer(ctx: ExchangeContext, state: ExchangeState): ResponseTransformer {
  let rewriter: ReturnType<typeof createStreamRewriter> | undefined;
  return {
    json(body) {
      const r = createResponseTransform(state.api, state.opts)(body);
      ctx.responseFindings = r.findings.map(summary);
      if (r.blocked) throw r.blocked;
      return r.changed ? r.body : undefined;
    },
    onEvent(ev) {
      rewriter ??= createStreamRewriter(state.api, state.opts);
      const out = rewriter.onEvent(ev);
      if (rewriter.findings.length !== ctx.responseFindings.length) ctx.responseFindings = rewriter.findings.map(summary);
      return out;
    },
    end() {
      if (!rewriter) return [];
      const out = rewriter.end();
      ctx.responseFindings = rewriter.findings.map(summary);
      return out;
    },
  };
}

/**
 * The conversation whose scan results may be reused: the caller plus the client's conversation id (the tokenization
 * header, else the session id the recorder uses, src/audit/observer.ts), never the time-gap grouping; none, none.
 */
function scanConversation(ctx: ExchangeContext): string | undefined {
  const h = ctx.headers[CONVERSATION_HEADER];
  if (typeof h === 'string' && h.length > 0 && h.length <= 256) return `${ctx.principal.subject}\nconversation:${h}`;
  const s = ctx.headers[SESSION_HEADER];
  const hint = sessionHintOf(ctx.body, typeof s === 'string' && s.length <= 256 ? s : undefined);
  return hint && !hint.source.endsWith('time-gap') ? `${ctx.principal.subject}\n${hint.key}` : undefined;
}

/** Placeholders are scoped to the caller and its conversation: another caller cannot restore them. */
function conversationScope(ctx: ExchangeContext): string {
  const h = ctx.headers[CONVERSATION_HEADER];
  const client = typeof h === 'string' && /^[\w.:-]{1,128}$/.test(h) ? h : `exchange:${ctx.id}`;
  return `${ctx.principal.subject}#${client}`;
}

async function loadTokenizer(vault: TokenVault, conversation: string): Promise<ConversationTokenizer> {
  try {
    return await ConversationTokenizer.load(vault, conversation);
  } catch (err) {
    throw new GatewayError('evaluation_error', 'The tokenization vault could not be read; the request was not forwarded.', { cause: err });
  }
}

async function saveTokenizer(vault: TokenVault, conversation: string, tokenizer: ConversationTokenizer): Promise<void> {
  try {
    await tokenizer.save(vault, conversation);
  } catch (err) {
    throw new GatewayError('evaluation_error', 'The tokenization vault could not be written; the request was not forwarded.', { cause: err });
  }
}

function summary(f: ContentFinding): Finding & Record<string, unknown> {
  return { type: f.type, start: f.start, end: f.end, score: f.score, detector: f.detector, rule: f.rule, action: f.action, path: f.path, direction: f.direction };
}

/** A decider that throws (a hook's bug, a store error in a hook) refuses the request: it is never skipped. */
async function decideFailClosed(decider: PolicyDecider, ctx: ExchangeContext): Promise<DecisionRecord & { error?: GatewayError }> {
  try {
    return await decider.decide(ctx, ctx.findings);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('evaluation_error', 'The policy could not be evaluated; the request was refused.', { cause: err });
  }
}

function allowWithoutPolicy(ctx: ExchangeContext): DecisionRecord & { error?: GatewayError } {
  return {
    decisionId: `dec_${ctx.id.slice(3)}`, effect: 'allow', enforced: true, matchedRuleIds: [], policyVersion: null,
    reasons: [{ code: 'no_policy_configured' }],
  };
}
