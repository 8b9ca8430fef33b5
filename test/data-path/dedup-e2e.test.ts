import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { BodyDigests } from '../../src/audit/repo.ts';
import { openAuditRepo } from '../../src/store/audit-repo.ts';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/** Deduplicated recording through the composed gateway, driven by the real OpenAI SDK as an agent would. */
describe('deduplicated recording end to end', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway({ maxBodyBytes: 1024 * 1024 });
  });
  after(async () => t.close());

  it('records each turn as references plus what is new, shows the exact request and verifies', async () => {
    const openai = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0, defaultHeaders: { 'x-portcullis-session': 'agent-run-7' } });
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'system', content: 'You are a coding agent. '.repeat(30) }];
    const ids: string[] = [];
    for (let turn = 1; turn <= 6; turn++) {
      messages.push({ role: 'user', content: `turn ${turn}: ${'please fix the failing resolver test and explain. '.repeat(8)}` });
      const { data, response } = await openai.chat.completions.create({ model: 'gpt-4o', messages }).withResponse();
      ids.push(response.headers.get('x-portcullis-exchange-id')!);
      messages.push({ role: 'assistant', content: `${data.choices[0]!.message.content ?? ''} ${'(details of the fix) '.repeat(10)}` });
    }
    for (const id of ids) await finishedExchange(t.gw, id);
    const repo = openAuditRepo(t.gw.store);
    const entries = await repo.entriesBetween(0, Date.now() + 1000);
    const added = ids.map((id) => ((entries.find((e) => e.refId === id && e.kind === 'exchange.started')!.payload.bodies as BodyDigests).messages?.added ?? []).length);
    // Turn 1 stores system + user; every later turn only the previous answer and the new question.
    assert.deepEqual(added, [2, 2, 2, 2, 2, 2]);

    const admin = (p: string) => fetch(`${t.gw.url}${p}`, { headers: { authorization: `Bearer ${t.adminKey}` } });
    const shown = (await (await admin(`/admin/v1/exchanges/${ids[5]}`)).json()) as { client_request: unknown };
    assert.deepEqual(shown.client_request, { model: 'gpt-4o', messages: messages.slice(0, -1) });
    const verify = (await (await admin('/admin/v1/audit/verify')).json()) as { ok: boolean; problems: unknown[] };
    assert.equal(verify.ok, true, JSON.stringify(verify.problems));
  });
});
