import { GatewayError } from '../core/errors.ts';
import type { PolicyDecision } from './engine.ts';
import type { Reason } from './reasons.ts';

/**
 * The one place that turns a refusing decision into the error the caller sees (like pomerium's check_response):
 * it names the rule, the reason and the policy version, never content from the request.
 */
export function refusalFor(d: PolicyDecision, exchange: { model: string; endpoint: string }): GatewayError | undefined {
  if (d.effect === 'allow') return undefined;
  const first: Reason = d.reasons[0] ?? { code: 'no_matching_rule' };
  const v = `policy version ${d.policyVersion}`;
  const details = { policy_version: d.policyVersion, reasons: d.reasons.map((r) => r.code), rule_ids: d.matchedRuleIds };
  const rule = first.ruleId ? `rule "${first.ruleId}"` : 'the policy';
  if (d.effect === 'require_approval') {
    return new GatewayError('approval_required', `This request needs approval (${rule}, ${v}).`, { details });
  }
  switch (first.code) {
    case 'evaluation_error':
      return new GatewayError('evaluation_error', `The policy could not be evaluated (${rule}, ${v}); the request was refused.`, { details });
    case 'denied_by_rule':
      return new GatewayError('policy_denied', `Denied by ${rule} (${v}).`, { details });
    case 'feature_not_allowed':
      if (first.detail === 'templates_only') {
        return new GatewayError('policy_denied', `${cap(rule)} allows only approved prompt templates: send a template id (x-portcullis-template) instead of a free-form prompt (${v}).`, { details });
      }
      return new GatewayError('policy_denied', `${cap(rule)} does not allow ${featureText(first.detail)} for model "${short(exchange.model)}" (${v}).`, { details });
    case 'sensitivity_not_allowed':
      return new GatewayError('policy_denied', `This request is classified "${first.detail ?? ''}"; model "${short(exchange.model)}" may not receive ${first.detail ?? ''} data (${v}).`, { details });
    case 'sensitivity_label_invalid':
      return new GatewayError('invalid_request', `The sensitivity label must be one of: ${(first.detail ?? '').split('|').join(', ')}.`, { details });
    default:
      return new GatewayError('model_not_allowed', `No policy rule allows you to use model "${short(exchange.model)}" on ${exchange.endpoint} (${v}).`, { details });
  }
}

function featureText(f: string | undefined): string {
  if (f === 'max_tokens') return 'this max_tokens (set a lower max_tokens)';
  if (f === 'temperature') return 'this temperature';
  return f ?? 'this feature';
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function short(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}
