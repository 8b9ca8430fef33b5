import type { RecordedClaims } from '../audit/claims-snapshot.ts';
import { GatewayError } from '../core/errors.ts';
import type { Finding } from '../core/findings.ts';
import type { PolicyEngine, PolicyDecision } from '../policy/engine.ts';
import type { PolicyInput } from '../policy/input.ts';
import { refusalFor } from '../policy/refusal.ts';
import { SENSITIVITY_HEADER, SENSITIVITY_METADATA_KEY } from '../policy/sensitivity.ts';
import type { DecisionRecord, ExchangeContext } from '../proxy/context.ts';
import type { Family } from '../proxy/endpoints.ts';
import type { ResolvedRoute } from '../proxy/routes.ts';
import type { PolicyDecider } from './guard.ts';
import { requestFeatures } from './request-features.ts';
import { isTemplateInvocation } from '../policy/templates/invocation.ts';

export type PolicyMode = 'enforce' | 'observe';

/**
 * Extension point for budgets, rate limits, prompt templates and approvals: runs after the engine decided, once per
 * exchange, with the decision it may change (e.g. `require_approval` → allow once approved). A hook refuses by
 * throwing a GatewayError (e.g. `rate_limited` with `retry-after`); it must fail closed itself. Hooks of a version
 * are built once, when the version is compiled (see PolicyHookFactory).
 */
export interface PolicyHookContext {
  ctx: ExchangeContext;
  decision: DecisionRecord;
  engine: PolicyEngine;
  input: PolicyInput;
}
export type PolicyHook = (h: PolicyHookContext) => Promise<void>;
export type PolicyHookFactory = (engine: PolicyEngine) => PolicyHook | undefined;

export interface PolicyDeciderOptions {
  engine: PolicyEngine;
  mode: PolicyMode;
  /** The route table's resolver (a reroute names a client-facing model). */
  resolveRoute: (model: string, family: Family) => ResolvedRoute | undefined;
  hooks?: readonly PolicyHook[];
  /** The sealed snapshot of the caller's claims for the decision record (src/audit/claims-snapshot.ts), for `policy simulate`. */
  sealClaims?: (exchangeId: string, claims: Readonly<Record<string, unknown>> | undefined) => RecordedClaims | undefined;
}

/** The engine as the guard needs it: builds the input from the exchange, records the decision, reroutes. */
export function createPolicyDecider(o: PolicyDeciderOptions): PolicyDecider {
  const enforced = o.mode === 'enforce';
  const sens = o.engine.sensitivity;
  return {
    async decide(ctx, findings) {
      const input = inputOf(ctx, findings, sens ? labelOf(ctx, sens) : undefined);
      let d: PolicyDecision;
      try {
        d = o.engine.evaluate(input);
      } catch {
        d = { effect: 'deny', reasons: [{ code: 'evaluation_error' }], matchedRuleIds: [], policyVersion: o.engine.version, sensitivity: null };
      }
      d = reroute(ctx, d, o.resolveRoute);
      const record = recordOf(ctx, d, input, enforced, o.sealClaims);
      ctx.decision = record;
      for (const hook of o.hooks ?? []) await hook({ ctx, decision: record, engine: o.engine, input });
      if (record.effect === 'allow' && record.error) record.error = undefined;
      // The label is ours, not the provider's (Anthropic rejects unknown metadata keys): removed in every mode.
      stripLabel(ctx);
      if (!enforced) return record;
      // An approved request goes where an allowed one would: the reroute applies to it too.
      const proceeds = record.effect === 'allow' || (record.effect === 'require_approval' && record.error === undefined);
      if (proceeds && d.reroute) applyReroute(ctx, d.reroute.to, o.resolveRoute);
      return record;
    },
    filterModels: (principal, models) => models.filter((m) => o.engine.mayUseModel(principal, m)),
  };
}

function inputOf(ctx: ExchangeContext, findings: readonly Finding[], label: string | undefined): PolicyInput {
  const p = ctx.principal;
  return {
    principal: { subject: p.subject, kind: p.kind, groups: p.groups, claims: p.claims },
    resource: { provider: ctx.route.provider, model: ctx.model, endpoint: ctx.endpoint.id },
    request: withTemplate(requestFeatures(ctx.body, ctx.stream), isTemplateInvocation(ctx)),
    context: { now: ctx.startedAt, clientIp: ctx.clientIp, userAgent: ctx.userAgent },
    findings,
    label,
  };
}

/** The client's label: header and/or `metadata.portcullis_sensitivity`; the higher of the two when both are sent. */
function labelOf(ctx: ExchangeContext, s: NonNullable<PolicyEngine['sensitivity']>): string | undefined {
  const h = s.acceptsHeader ? ctx.headers[SENSITIVITY_HEADER] : undefined;
  const header = typeof h === 'string' ? h.trim().toLowerCase() : undefined;
  const meta = ctx.body.metadata;
  const m = s.acceptsMetadata && typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>)[SENSITIVITY_METADATA_KEY] : undefined;
  const fromMeta = typeof m === 'string' ? m.trim().toLowerCase() : m === undefined ? undefined : JSON.stringify(m);
  if (header === undefined || fromMeta === undefined) return header ?? fromMeta;
  const rank = (l: string): number => (s.levels.includes(l) ? s.levels.indexOf(l) : Number.MAX_SAFE_INTEGER);
  return rank(header) >= rank(fromMeta) ? header : fromMeta;
}

/** A reroute target that no route serves for this API family cannot be honoured: block (fail closed). */
function reroute(ctx: ExchangeContext, d: PolicyDecision, resolve: PolicyDeciderOptions['resolveRoute']): PolicyDecision {
  if (!d.reroute || resolve(d.reroute.to, ctx.endpoint.family)) return d;
  return { ...d, effect: 'deny', reroute: undefined, reasons: [{ code: 'sensitivity_not_allowed', detail: d.reroute.level }] };
}

/** The request features with `template` in its canonical place (the record is hashed into the audit trail). */
function withTemplate(f: ReturnType<typeof requestFeatures>, template: boolean): PolicyInput['request'] {
  return { files: f.files, images: f.images, maxTokens: f.maxTokens, stream: f.stream, temperature: f.temperature, template, tools: f.tools };
}

function recordOf(ctx: ExchangeContext, d: PolicyDecision, input: PolicyInput, enforced: boolean, sealClaims: PolicyDeciderOptions['sealClaims']): DecisionRecord & { error?: GatewayError } {
  const claims = sealClaims?.(ctx.id, input.principal.claims);
  // Keys in canonical order (the audit trail hashes this record: src/core/canonical-json.ts fast path).
  const record: DecisionRecord & { error?: GatewayError } = {
    ...(claims ? { claims } : {}),
    decisionId: `dec_${ctx.id.slice(3)}`,
    effect: d.effect,
    enforced,
    // What the decision was made on (no content): lets a simulation replay the exact input later.
    input: { claims: input.principal.claims ? Object.keys(input.principal.claims) : [], label: input.label ?? null, request: input.request },
    matchedRuleIds: d.matchedRuleIds,
    policyVersion: d.policyVersion,
    reasons: enforced ? d.reasons : [...d.reasons, { code: 'observe_mode' }],
    sensitivity: d.sensitivity,
  };
  if (d.reroute) record.route = { level: d.reroute.level, from: d.reroute.from, to: d.reroute.to, applied: enforced && d.effect !== 'deny' };
  const error = refusalFor(d, { model: ctx.model, endpoint: ctx.endpoint.id });
  if (error) Object.defineProperty(record, 'error', { value: error, enumerable: false, writable: true });
  return record;
}

function applyReroute(ctx: ExchangeContext, model: string, resolve: PolicyDeciderOptions['resolveRoute']): void {
  const route = resolve(model, ctx.endpoint.family);
  if (!route) throw new GatewayError('evaluation_error', 'The policy rerouted this request to a model no route serves; the request was refused.');
  ctx.route = route;
  ctx.upstreamBody = { ...(ctx.upstreamBody ?? ctx.body), model: route.upstreamModel };
}

/** The metadata label is ours, not the provider's (Anthropic rejects unknown metadata keys): it is not forwarded. */
function stripLabel(ctx: ExchangeContext): void {
  const base = ctx.upstreamBody ?? ctx.body;
  const meta = base.metadata;
  if (typeof meta !== 'object' || meta === null || !(SENSITIVITY_METADATA_KEY in meta)) return;
  const { [SENSITIVITY_METADATA_KEY]: _label, ...rest } = meta as Record<string, unknown>;
  const copy: Record<string, unknown> = { ...base, metadata: rest };
  if (Object.keys(rest).length === 0) delete copy.metadata;
  ctx.upstreamBody = copy;
}
