import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ExchangeFinish, ExchangeStart } from '../store/ports.ts';
import { createEventMapper } from './ocsf.ts';
import { fakeCredential } from '../../test/helpers/fake-credentials.ts';

const mapper = createEventMapper({ hashKey: randomBytes(32), productVersion: '0.1.0' });
const SECRET = fakeCredential.openaiProject();
const HEX = '9f3c2a7be41d80f56a2c9e7d13b4f0a8';

function start(over: Partial<ExchangeStart> = {}): ExchangeStart {
  return {
    id: 'ex_01', startedAt: 1_700_000_000_000, subject: 'user:alice@example.com',
    principal: { kind: 'user', displayName: 'alice', groups: ['eng', 'oncall'], authMethod: 'api_key', credentialId: 'key_1' },
    endpoint: 'openai.chat', method: 'POST', path: '/v1/chat/completions', model: 'gpt-4o', provider: 'openai', upstreamModel: 'gpt-4o',
    stream: true, clientIp: '10.1.2.3', userAgent: 'OpenAI/Python 1.40.0', decision: null, findings: [], clientRequest: null, upstreamRequest: null,
    ...over,
  };
}

function finish(over: Partial<ExchangeFinish> = {}): ExchangeFinish {
  return {
    id: 'ex_01', finishedAt: 1_700_000_000_500, status: 'completed', httpStatus: 200, errorCode: null,
    timings: { upstreamFirstByteMs: 40, clientFirstByteMs: 42, totalMs: 500 }, usage: { inputTokens: 12, outputTokens: 30, totalTokens: 42 },
    response: null, eventCount: 9, responseFindings: [], forwarded: true, ...over,
  };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('OCSF mapping', () => {
  it('maps a completed exchange to API Activity with identity, usage and timings', () => {
    const row = mapper.exchange(start(), finish());
    const ev = JSON.parse(row.body) as Json;
    assert.equal(row.id, 'evt_ex_01');
    assert.equal(row.type, 'exchange.completed');
    assert.equal(ev.class_uid, 6003);
    assert.equal(ev.category_uid, 6);
    assert.equal(ev.type_uid, 600301);
    assert.equal(ev.metadata.uid, row.id);
    assert.equal(ev.metadata.product.name, 'Portcullis');
    assert.equal(ev.actor.user.uid, 'user:alice@example.com');
    assert.deepEqual(ev.actor.user.groups, [{ name: 'eng' }, { name: 'oncall' }]);
    assert.equal(ev.src_endpoint.ip, '10.1.2.3');
    assert.equal(ev.http_request.user_agent, 'OpenAI/Python 1.40.0');
    assert.equal(ev.unmapped.portcullis.usage.total_tokens, 42);
    assert.equal(ev.unmapped.portcullis.timings.upstream_first_byte_ms, 40);
    assert.equal(ev.status_id, 1);
    assert.equal(ev.severity_id, 1);
  });

  it('marks blocked and masked exchanges with disposition, rule ids and finding counts', () => {
    const decision = { decisionId: 'dec_1', policyVersion: 'v7', effect: 'deny', enforced: true, reasons: [{ code: 'finding_blocked', ruleId: 'no-keys', detail: 'quoted' }], matchedRuleIds: ['no-keys'] };
    const blocked = JSON.parse(mapper.exchange(start({ decision, findings: [{ type: 'SECRET_OPENAI_KEY', start: 3, end: 40, action: 'block' }] }), finish({ status: 'rejected', httpStatus: 403, errorCode: 'policy_denied' })).body) as Json;
    assert.equal(blocked.metadata.event_code, 'exchange.blocked');
    assert.equal(blocked.disposition_id, 2);
    assert.equal(blocked.severity_id, 3);
    assert.deepEqual(blocked.unmapped.portcullis.decision.rule_ids, ['no-keys']);
    assert.deepEqual(blocked.unmapped.portcullis.findings.request, { SECRET_OPENAI_KEY: 1 });
    assert.ok(!JSON.stringify(blocked).includes('quoted'), 'reason details are not emitted');
    // Observe mode: the deny was recorded, not enforced, and the exchange completed: not a block.
    const observed = JSON.parse(mapper.exchange(start({ decision: { ...decision, enforced: false } }), finish()).body) as Json;
    assert.equal(observed.metadata.event_code, 'exchange.completed');
    assert.equal(observed.disposition_id, 1);
    assert.equal(observed.unmapped.portcullis.decision.enforced, false);
    // Break-glass is always visible to the SIEM.
    const glass = JSON.parse(mapper.exchange(start({ decision: { ...decision, effect: 'require_approval', approvalOutcome: 'break_glass', breakGlass: true } }), finish()).body) as Json;
    assert.equal(glass.unmapped.portcullis.decision.break_glass, true);
    assert.equal(glass.unmapped.portcullis.decision.approval_outcome, 'break_glass');
    // A verified person's display name stays readable; a name that carries a key shape is hashed.
    const named = (displayName: string) => (JSON.parse(mapper.exchange(start({ principal: { kind: 'user', displayName, groups: [] } }), finish()).body) as Json).actor.user.name as string;
    assert.equal(named('José Núñez-Ortiz'), 'José Núñez-Ortiz');
    assert.match(named('pcl_abc def'), /^hmac:/);
    const approved = JSON.parse(mapper.exchange(start({ decision: { ...decision, effect: 'require_approval', approvalId: 'apr_01J9Z', approvalOutcome: 'approved' } }), finish()).body) as Json;
    assert.equal(approved.unmapped.portcullis.decision.approval_id, 'apr_01J9Z');
    // An MCP tool call linked to the model answer that asked for it (docs/mcp.md#correlation); a key-shaped id is hashed.
    const linked = (toolCallId: string): Json => (JSON.parse(mapper.exchange(start({ endpoint: 'mcp.tools_call', decision: { ...decision, correlation: { exchange_id: 'ex_01J9Z', tool_call_id: toolCallId } } }), finish()).body) as Json).unmapped.portcullis.correlation as Json;
    assert.deepEqual(linked('call_mock1'), { model_exchange_id: 'ex_01J9Z', tool_call_id: 'call_mock1' });
    assert.match(linked('sk-proj-' + 'a'.repeat(40)).tool_call_id as string, /^hmac:/);
    assert.equal((JSON.parse(mapper.exchange(start({ decision }), finish()).body) as Json).unmapped.portcullis.correlation, undefined);
    const masked = JSON.parse(mapper.exchange(start({ findings: [{ type: 'EMAIL_ADDRESS', start: 0, end: 5, action: 'mask' }, { type: 'EMAIL_ADDRESS', start: 9, end: 20, action: 'mask' }] }), finish()).body) as Json;
    assert.equal(masked.metadata.event_code, 'exchange.masked');
    assert.equal(masked.disposition_id, 11);
    assert.deepEqual(masked.unmapped.portcullis.findings.actions, { mask: 2 });
  });

  it('attack: secrets in client-controlled fields never reach the event', () => {
    const row = mapper.exchange(
      start({
        model: SECRET, upstreamModel: null, provider: null, userAgent: `curl/8.5 (${SECRET}) key=${HEX} ${SECRET}/1.0`, clientIp: `1.2.3.4 ${SECRET}`,
        findings: [{ type: SECRET, start: 0, end: 1, path: `tools[0].function.arguments.${SECRET}`, action: SECRET, detector: HEX, value: SECRET }],
        decision: { decisionId: 'd', effect: 'allow', reasons: [{ code: HEX, detail: SECRET }], matchedRuleIds: [SECRET] },
      }),
      finish({ status: 'upstream_error', errorCode: SECRET, responseFindings: [{ type: HEX, path: SECRET }] }),
    );
    for (const needle of [SECRET, HEX, SECRET.slice('sk-proj-'.length)]) assert.ok(!row.body.includes(needle), `event leaks ${needle}`);
    const ev = JSON.parse(row.body) as Json;
    assert.match(String(ev.unmapped.portcullis.model), /^hmac:[0-9a-f]{16}$/, 'unsafe model is replaced by its keyed hash');
    assert.equal(ev.src_endpoint, undefined, 'a non-IP client address is dropped');
    assert.equal(ev.http_request.user_agent, 'curl/8.5', 'only the plain product token survives');
  });

  it('keyed hashes correlate equal values but differ between gateway keys', () => {
    const other = createEventMapper({ hashKey: randomBytes(32), productVersion: '0.1.0' });
    const a1 = JSON.parse(mapper.exchange(start({ model: SECRET }), finish()).body) as Json;
    const a2 = JSON.parse(mapper.exchange(start({ model: SECRET }), finish()).body) as Json;
    const b = JSON.parse(other.exchange(start({ model: SECRET }), finish()).body) as Json;
    assert.equal(a1.unmapped.portcullis.model, a2.unmapped.portcullis.model);
    assert.notEqual(a1.unmapped.portcullis.model, b.unmapped.portcullis.model);
  });

  it('keeps API paths readable in http_request.url.path; hashes queries, odd characters and key-like segments', () => {
    const path = (p: string): unknown => (JSON.parse(mapper.exchange(start({ path: p }), finish()).body) as Json).http_request.url.path;
    for (const p of ['/v1/chat/completions', '/v1/messages/count_tokens', '/openai/deployments/gpt-4o.prod/chat/completions', '/v1/models/claude-3-5-sonnet-20241022', '/']) {
      assert.equal(path(p), p);
    }
    for (const p of [`/v1/chat/completions?key=${HEX}`, `/v1/keys/${SECRET}`, `/v1/x/${HEX}`, '/v1/a%2Fb', '/v1/a b', 'v1/chat', `/${'a'.repeat(201)}`, '/v1/<script>']) {
      assert.match(String(path(p)), /^hmac:[0-9a-f]{16}$/, p);
    }
  });

  it('keeps ordinary model names and IdP subjects readable', () => {
    const ev = JSON.parse(mapper.exchange(start({ model: 'claude-3-5-sonnet-20241022', subject: 'oidc:okta|00u1AbCdEfGh2345iJkL' }), finish()).body) as Json;
    assert.equal(ev.unmapped.portcullis.model, 'claude-3-5-sonnet-20241022');
    assert.equal(ev.actor.user.uid, 'oidc:okta|00u1AbCdEfGh2345iJkL');
  });

  it('maps identity events to Authentication with protocol and failure reason', () => {
    const row = mapper.identity({ type: 'auth.login.failed', at: 1, subject: 'user:bob', reason: 'bad_signature', source: 'oidc:corp', method: 'code', sourceIp: '::1' });
    const ev = JSON.parse(row.body) as Json;
    assert.equal(ev.class_uid, 3002);
    assert.equal(ev.type_uid, 300201);
    assert.equal(ev.status_id, 2);
    assert.equal(ev.status_detail, 'bad_signature');
    assert.equal(ev.auth_protocol_id, 4);
    assert.equal(ev.user.uid, 'user:bob');
    assert.equal(ev.metadata.uid, row.id);
    const revoked = JSON.parse(mapper.identity({ type: 'auth.token.revoked', at: 2, subject: 'user:bob', credentialId: 'ses_1', method: 'session' }).body) as Json;
    assert.equal(revoked.activity_id, 2);
    assert.equal(revoked.session.uid, 'ses_1');
  });

  it('maps security events: policy activation, credential change, approvals, accounts, admin actions', () => {
    const actor = { subject: 'user:root', kind: 'user' as const, groups: ['portcullis-admins'] };
    const act = JSON.parse(mapper.security({ type: 'policy.activated', at: 5, actor, policyVersion: 'v8', previousVersion: 'v7' }).body) as Json;
    assert.equal(act.type_uid, 300410);
    assert.equal(act.entity.uid, 'v8');
    assert.equal(act.actor.user.uid, 'user:root');
    const tampered = JSON.parse(mapper.security({ type: 'policy.integrity_failed', at: 5, actor: { subject: 'system', kind: 'system' }, outcome: 'failure', reason: 'hash_mismatch', policyVersion: 'pv_1', problem: 'hash_mismatch', during: 'load' }).body) as Json;
    assert.equal(tampered.type_uid, 300499);
    assert.equal(tampered.severity_id, 5);
    assert.equal(tampered.status, 'Failure');
    assert.deepEqual(tampered.unmapped.portcullis, { problem: 'hash_mismatch', during: 'load' });
    const cred = JSON.parse(mapper.security({ type: 'credential.changed', at: 5, actor, provider: 'openai', change: 'set' }).body) as Json;
    assert.equal(cred.type_uid, 300403);
    assert.equal(cred.severity_id, 3);
    const dec = mapper.security({ id: 'approval.approved:apr_1', type: 'approval.decided', at: 6, actor, approvalId: 'apr_1', requester: 'user:bob', decision: 'approved' });
    assert.equal(dec.id, 'approval.approved:apr_1');
    assert.equal((JSON.parse(dec.body) as Json).disposition_id, 8);
    const acct = JSON.parse(mapper.security({ type: 'account.changed', at: 7, actor, account: { subject: 'service:etl', kind: 'service' }, change: 'disabled' }).body) as Json;
    assert.equal(acct.type_uid, 300105);
    assert.equal(acct.user.uid, 'service:etl');
    const adm = JSON.parse(mapper.security({ type: 'admin.action', at: 8, actor, operation: 'keys.revoke', target: { type: 'api_key', id: 'key_9' }, outcome: 'failure', reason: 'forbidden' }).body) as Json;
    assert.equal(adm.type_uid, 600304);
    assert.equal(adm.status_id, 2);
    assert.equal(adm.severity_id, 3);
  });
});
