import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { PolicyError } from '../../src/policy/errors.ts';
import { admin, startPolicyGateway, type PolicyGateway } from './harness.ts';

/** Laptop mode (`policy.file` in the config): the file is the policy; edits apply on the next check. */
const allow = (model: string) => `version: 1\nrules:\n  - id: eng\n    effect: allow\n    subjects: { groups: [eng] }\n    resources: { models: [${model}] }\n`;

describe('policy from a file', () => {
  let g: PolicyGateway;
  let file: string;
  let alice: OpenAI;
  const call = (model: string) => alice.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
  before(async () => {
    file = join(mkdtempSync(join(tmpdir(), 'pcl-policy-file-')), 'policy.yaml');
    writeFileSync(file, allow('gpt-4o'));
    g = await startPolicyGateway({ policyFile: file });
    alice = new OpenAI({ baseURL: g.t.openaiBase, apiKey: g.keys.alice, maxRetries: 0 });
  });
  after(() => g.close());

  it('enforces the file, reloads it when it changes, and refuses store activations', async () => {
    assert.ok((await call('gpt-4o')).choices.length > 0);
    await assert.rejects(call('gpt-4o-mini'), { status: 400 });
    writeFileSync(file, allow('gpt-4o-mini'));
    await g.policy.runtime.refresh();
    assert.ok((await call('gpt-4o-mini')).choices.length > 0);
    await assert.rejects(call('gpt-4o'), { status: 400 });
    assert.match(g.policy.runtime.state().versionId!, /^file:[0-9a-f]{12}$/);
    const pushed = await admin(g.adminUrl, g.keys.admin, 'POST', '/admin/v1/policies', { source: allow('gpt-4o'), message: 'x' });
    const act = await admin(g.adminUrl, g.keys.admin, 'POST', `/admin/v1/policies/${String(pushed.json.id)}/activate`, {});
    assert.equal(act.status, 409);
  });

  it('an edit that breaks the file refuses requests (fail closed) until it is fixed', async () => {
    writeFileSync(file, 'version: 1\nrules:\n  - id: eng\n    effect: sometimes\n');
    await g.policy.runtime.refresh();
    await assert.rejects(call('gpt-4o-mini'), { status: 503, code: 'evaluation_error' });
    writeFileSync(file, allow('gpt-4o-mini'));
    await g.policy.runtime.refresh();
    assert.ok((await call('gpt-4o-mini')).choices.length > 0);
  });

  it('an invalid file stops the start with its line-numbered errors', async () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'pcl-policy-file-')), 'bad.yaml');
    writeFileSync(bad, 'version: 1\nrules:\n  - id: eng\n    effect: allow\n    when: "nope ==="\n');
    await assert.rejects(startPolicyGateway({ policyFile: bad }), (err: unknown) => err instanceof PolicyError && /bad\.yaml:5 rules\[0\]\.when/.test(err.message));
  });
});
