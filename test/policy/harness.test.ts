import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { admin, startPolicyGateway, type PolicyGateway } from './harness.ts';

const GOOD = 'version: 1\nrules:\n  - id: eng\n    effect: allow\n    subjects: { groups: [eng] }\n    resources: { models: [gpt-4o] }\n';

/**
 * The harness runs its own policy module beside the one the gateway composes, on one store and one guard slot. The
 * gateway's module once polled in the middle of cli.test.ts, found the harness's activation unchained in the audit
 * trail and refused the next request (503 evaluation_error). Both must agree on what the harness activates.
 */
describe('policy test harness', () => {
  let g: PolicyGateway;
  before(async () => {
    g = await startPolicyGateway();
  });
  after(() => g.close());

  it("an activation through the harness passes the gateway's own check (what its poll does): the version stays enforced", async () => {
    const pushed = await admin(g.adminUrl, g.keys.admin, 'POST', '/admin/v1/policies', { source: GOOD, message: 'eng gets gpt-4o' });
    assert.equal(pushed.status, 201, JSON.stringify(pushed.json));
    const activated = await admin(g.adminUrl, g.keys.admin, 'POST', `/admin/v1/policies/${String(pushed.json.id)}/activate`, {});
    assert.equal(activated.status, 200, JSON.stringify(activated.json));
    const alice = new OpenAI({ baseURL: g.t.openaiBase, apiKey: g.keys.alice, maxRetries: 0 });
    const ask = () => alice.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    await ask();
    const own = g.t.gw.governance.policy.runtime;
    await own.refresh();
    assert.deepEqual(own.state(), { source: 'store', versionId: pushed.json.id, mode: 'enforce', error: null });
    await ask();
    assert.equal(g.policy.runtime.state().error, null);
  });
});
