import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { GatewayError } from '../../src/core/errors.ts';
import { finishedExchange } from '../helpers/gateway.ts';
import { harnessSuite } from './harness.ts';

/** Deferred mode, quorum, windows and the attacks that must fail — real OpenAI SDK against a real gateway. */
describe('approvals: deferred mode and the rules around it', () => {
  const suite = harnessSuite();
  const h = suite.h;
  const openai = suite.openai;

  const ask = (content: string, o: { model?: string; headers?: Record<string, string>; client?: OpenAI } = {}) =>
    (o.client ?? openai).chat.completions.create({ model: o.model ?? 'gpt-4o', messages: [{ role: 'user', content }] }, { headers: o.headers });
  const refusal = async (p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError> & { approvalId: string }> => {
    const err = await p.then(() => assert.fail('expected a refusal'), (e: unknown) => e);
    assert.ok(err instanceof OpenAI.APIError, String(err));
    const approvalId = (err.error as { portcullis?: { approval_id?: string } } | undefined)?.portcullis?.approval_id ?? '';
    return Object.assign(err, { approvalId });
  };

  test('error with id and link → approve → the identical retry passes once; a second retry and an altered one are refused', async () => {
    h.setRule({ mode: 'deferred' });
    const first = await refusal(ask('export the customer table'));
    assert.equal(first.status, 400);
    assert.equal(first.code, 'approval_required');
    assert.ok(first.approvalId.startsWith('apr_'));
    assert.match(first.message, new RegExp(`${first.approvalId}: ${h.adminUrl}/admin/v1/approvals/${first.approvalId}`));
    assert.equal(first.headers?.get('x-portcullis-approval-id'), first.approvalId);
    // Asking again before a decision points at the same approval instead of creating another one.
    assert.equal((await refusal(ask('export the customer table'))).approvalId, first.approvalId);

    const r = await h.cli(h.keys.bob, ['approve', first.approvalId]);
    assert.equal(r.code, 0, r.stderr);
    const altered = await refusal(ask('export the customer table and the salaries'));
    assert.equal(altered.code, 'approval_required');
    assert.notEqual(altered.approvalId, first.approvalId);
    const claimed = await refusal(ask('export the customer table, all of it', { headers: { 'x-portcullis-approval-id': first.approvalId } }));
    assert.equal(claimed.code, 'approval_denied', 'an approval named for another request is refused (digest mismatch)');

    const { data, response } = await ask('export the customer table').withResponse();
    assert.ok(data.choices[0]?.message.content);
    assert.equal((await finishedExchange(h.t.gw, response.headers.get('x-portcullis-exchange-id')!)).decision?.approvalId, first.approvalId);
    const again = await refusal(ask('export the customer table', { headers: { 'x-portcullis-approval-id': first.approvalId } }));
    assert.equal(again.code, 'approval_denied');
    assert.match(again.message, /already used/);
    const reuse = await refusal(ask('export the customer table'));
    assert.equal(reuse.code, 'approval_required');
    assert.notEqual(reuse.approvalId, first.approvalId, 'a spent approval is never reused; a new one is requested');

    const history = (await h.api(h.keys.bob, 'GET', `/admin/v1/approvals/${first.approvalId}`)).json.history as { action: string }[];
    const actions = history.map((e) => e.action);
    assert.ok(actions.includes('refused:digest_mismatch'));
    assert.ok(actions.includes('refused:reuse'));
    assert.equal(actions.filter((a) => a === 'transition').length, 2, 'approved, then executed — once');
  });

  test('self-approval and approval by a non-approver are refused and recorded', async () => {
    h.setRule({ mode: 'deferred', approver_groups: ['sec', 'eng'] });
    const { approvalId } = await refusal(ask('self service'));
    const self = await h.cli(h.keys.alice, ['approve', approvalId]);
    assert.equal(self.code, 1);
    assert.match(self.stderr, /your own request/);
    h.setRule({ mode: 'deferred' });
    const second = (await refusal(ask('outsider'))).approvalId;
    const outsider = await h.api(h.keys.mallory, 'POST', `/admin/v1/approvals/${second}/approve`, {});
    assert.equal(outsider.status, 403);
    assert.equal((await h.api(h.keys.mallory, 'GET', `/admin/v1/approvals/${second}`)).status, 404, 'an outsider cannot even read it');
    const carol = await h.api(h.keys.carol, 'POST', `/admin/v1/approvals/${second}/approve`, {});
    assert.equal(carol.status, 403);
    const hist = (await h.api(h.keys.bob, 'GET', `/admin/v1/approvals/${second}`)).json.history as { action: string; actor: string }[];
    for (const who of ['user:carol', 'user:mallory']) assert.ok(hist.some((e) => e.action === 'refused:not_an_approver' && e.actor === who), who);
    const selfHist = (await h.api(h.keys.bob, 'GET', `/admin/v1/approvals/${approvalId}`)).json;
    assert.equal(selfHist.state, 'pending');
    assert.ok((selfHist.history as { action: string }[]).some((e) => e.action === 'refused:self_approval'));
    assert.equal((await h.api(h.keys.alice, 'GET', `/admin/v1/approvals/${second}`)).json.request, undefined, 'the requester sees the state, not the held prompt');
  });

  test('quorum of two groups: one approver from each, not one person twice', async () => {
    h.setRule({ mode: 'deferred', approver_groups: ['sec', 'legal'], quorum: 'each_group' });
    const { approvalId } = await refusal(ask('merger memo'));
    assert.equal((await h.api(h.keys.bob, 'POST', `/admin/v1/approvals/${approvalId}/approve`, {})).json.state, 'pending');
    assert.equal((await h.api(h.keys.bob, 'POST', `/admin/v1/approvals/${approvalId}/approve`, {})).status, 409);
    assert.equal((await refusal(ask('merger memo'))).code, 'approval_required');
    assert.equal((await h.api(h.keys.carol, 'POST', `/admin/v1/approvals/${approvalId}/approve`, {})).json.state, 'approved');
    assert.ok((await ask('merger memo')).choices[0]);
  });

  test('a time-window grant covers this user × rule × model for its duration, nothing else', async () => {
    h.setRule({ mode: 'deferred', scope: 'window', window_seconds: 600 });
    const { approvalId } = await refusal(ask('first of many'));
    await h.api(h.keys.bob, 'POST', `/admin/v1/approvals/${approvalId}/approve`, { reason: 'incident work' });
    assert.ok((await ask('second, different prompt')).choices[0]);
    assert.ok((await ask('third')).choices[0]);
    assert.equal((await refusal(ask('other model', { model: 'gpt-4.1' }))).code, 'approval_required');
    const mallory = new OpenAI({ apiKey: h.keys.mallory, baseURL: h.t.openaiBase, maxRetries: 0 });
    assert.equal((await refusal(ask('not mine', { client: mallory }))).code, 'approval_required');
  });

  test('justification required: refused without it; stored and shown with it', async () => {
    h.setRule({ mode: 'deferred', justification_required: true });
    const none = await refusal(ask('why not'));
    assert.equal(none.status, 400);
    assert.match(none.message, /x-portcullis-justification/);
    const { approvalId } = await refusal(ask('why not', { headers: { 'x-portcullis-justification': 'ticket SEC-12' } }));
    assert.equal((await h.api(h.keys.bob, 'GET', `/admin/v1/approvals/${approvalId}`)).json.justification, 'ticket SEC-12');
  });

  test('attack: break-glass header from a non-member skips nothing — justification still required, attempt recorded', async () => {
    // alice is in eng, not in break_glass_groups [oncall].
    h.setRule({ mode: 'deferred', justification_required: true });
    const bypass = await refusal(ask('break glass please', { headers: { 'x-portcullis-break-glass': 'trust me' } }));
    assert.equal(bypass.status, 400, 'no justification: refused exactly as without the header');
    assert.equal(bypass.code, 'approval_required');
    assert.match(bypass.message, /x-portcullis-justification/);
    assert.equal(bypass.approvalId, '', 'no approval was created');
    const refusedRow = await finishedExchange(h.t.gw, bypass.headers!.get('x-portcullis-exchange-id')!);
    assert.equal(refusedRow.decision?.breakGlassRefused, true, 'the attempt is on the exchange record');
    assert.notEqual(refusedRow.decision?.breakGlass, true);

    // With a justification she is reviewed like everyone else; the attempt lands in the approval's history.
    const before = h.emitted.length;
    const { approvalId, code, status } = await refusal(ask('break glass please', { headers: { 'x-portcullis-break-glass': 'trust me', 'x-portcullis-justification': 'ticket SEC-99' } }));
    assert.equal(status, 400);
    assert.equal(code, 'approval_required');
    const shown = (await h.api(h.keys.bob, 'GET', `/admin/v1/approvals/${approvalId}`)).json;
    assert.equal(shown.state, 'pending');
    assert.equal(shown.break_glass, false);
    assert.equal(shown.justification, 'ticket SEC-99');
    assert.ok((shown.history as { action: string; actor: string }[]).some((e) => e.action === 'refused:break_glass_not_allowed' && e.actor === 'user:alice'));
    const refusedEvent = h.emitted.slice(before).find((e) => e.refId === approvalId && e.kind === 'approval.refused');
    assert.equal(refusedEvent?.payload.refused, 'break_glass_not_allowed');
    assert.equal(refusedEvent?.subject, 'user:alice');
    await h.api(h.keys.bob, 'POST', `/admin/v1/approvals/${approvalId}/deny`, { reason: 'cleanup' });

    // A member still breaks glass without a justification; the reason is stored as the justification.
    const breaker = new OpenAI({ apiKey: h.keys.breaker, baseURL: h.t.openaiBase, maxRetries: 0 });
    const { response } = await ask('sev1: restore service', { client: breaker, headers: { 'x-portcullis-break-glass': 'sev1 INC-7' } }).withResponse();
    const row = await finishedExchange(h.t.gw, response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.decision?.breakGlass, true);
    assert.equal(row.decision?.breakGlassRefused, undefined);
    const bg = (await h.api(h.keys.dave, 'GET', `/admin/v1/approvals/${String(row.decision?.approvalId)}`)).json;
    assert.equal(bg.state, 'executed');
    assert.equal(bg.justification, 'sev1 INC-7');
  });

  test('the list fills its page with approvals the caller may see (limit after visibility), pages on with next_before', async () => {
    h.setRule({ mode: 'deferred', approver_groups: ['sec'] });
    const mine = (await refusal(ask('for sec reviewers'))).approvalId;
    h.setRule({ mode: 'deferred', approver_groups: ['legal'] });
    const legal: string[] = [];
    for (let i = 0; i < 3; i++) legal.push((await refusal(ask(`for legal reviewers ${i}`))).approvalId);
    const page = await h.api(h.keys.bob, 'GET', '/admin/v1/approvals?state=pending&limit=1');
    assert.equal(page.status, 200);
    assert.deepEqual((page.json.data as { id: string }[]).map((a) => a.id), [mine], 'newer approvals bob may not see do not eat his page');
    assert.equal(page.json.next_before, mine);
    const rest = await h.api(h.keys.bob, 'GET', `/admin/v1/approvals?state=pending&limit=500&before=${mine}`);
    const restIds = (rest.json.data as { id: string; approver_groups: string[] }[]);
    assert.ok(restIds.every((a) => a.id < mine && a.approver_groups.includes('sec')), 'older, and only what bob may see');
    assert.equal(rest.json.next_before, null);
    const carol = await h.api(h.keys.carol, 'GET', '/admin/v1/approvals?state=pending&limit=3');
    assert.deepEqual((carol.json.data as { id: string }[]).map((a) => a.id), [...legal].reverse());
    assert.equal((await h.api(h.keys.bob, 'GET', '/admin/v1/approvals?before=nope')).status, 400);
    for (const id of legal) await h.api(h.keys.carol, 'POST', `/admin/v1/approvals/${id}/deny`, { reason: 'cleanup' });
    await h.api(h.keys.bob, 'POST', `/admin/v1/approvals/${mine}/deny`, { reason: 'cleanup' });
  });

  test('the held prompt is sealed at rest and shown to approvers with findings masked', async () => {
    const content = 'mail jane.doe@example.com the contract';
    h.setRule({ mode: 'deferred' }, [{ type: 'EMAIL_ADDRESS', start: 5, end: 25, score: 1, detector: 'email', path: 'messages[0].content', direction: 'request', action: 'flag' }]);
    const { approvalId } = await refusal(ask(content));
    const row = await (await import('../../src/store/approval-repo.ts')).openApprovalRepo(h.t.gw.store).get(approvalId);
    assert.ok(row?.sealedRequest && !row.sealedRequest.includes(Buffer.from('jane.doe')), 'sealed, not plaintext');
    const shown = (await h.api(h.keys.bob, 'GET', `/admin/v1/approvals/${approvalId}`)).json;
    assert.deepEqual((shown.request as { messages: { content: string }[] }).messages[0]?.content, 'mail [EMAIL_ADDRESS] the contract');
    assert.ok(!JSON.stringify(shown).includes('jane.doe'));
    const list = await h.cli(h.keys.dave, ['list', '--state', 'pending']);
    assert.match(list.stdout, new RegExp(approvalId));
  });

  test('fail closed: a require_approval decision without readable approval options never passes the gate', async () => {
    const decision = { decisionId: 'd', policyVersion: 'pv-1', effect: 'require_approval' as const, enforced: true, reasons: [], matchedRuleIds: ['r'], approval: { ruleId: 'r', mode: 'hold' } };
    await assert.rejects(h.approvals.gate.check({} as never, decision), (e: unknown) => e instanceof GatewayError && e.code === 'evaluation_error');
  });
});
