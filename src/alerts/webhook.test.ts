import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Firing } from './types.ts';
import { jsonPayload, slackPayload } from './webhook.ts';

const f: Firing = {
  id: 'inv_1', ruleId: 'new-tool', kind: 'new_client', severity: 'low', subject: 'user:a', identity: 'user:a', windowKey: 'x<y>&z', openedAt: 0,
  summary: 'user:a used a new client tool: <!channel> & more', exchangeIds: ['ex_1'], response: 'suspend',
};
const links = { api: 'https://gw/admin/v1/investigations/inv_1', console: 'https://gw/console/#/investigations/inv_1' };

test('Slack messages escape what came from clients, so a value cannot ping a channel or forge a link', () => {
  const text = JSON.stringify(slackPayload(f, links));
  assert.ok(!text.includes('<!channel>'));
  assert.match(text, /&lt;!channel&gt; &amp; more/);
  assert.match(text, /<https:\/\/gw\/console\/#\/investigations\/inv_1\|Investigate inv_1>/);
  assert.match(text, /user:a\* is suspended/);
});

test('the JSON payload names the investigation and both links, never content', () => {
  const p = jsonPayload(f, links) as { type: string; investigation: Record<string, unknown>; link: string; console_link: string };
  assert.equal(p.type, 'alert.fired');
  assert.deepEqual(Object.keys(p.investigation), ['id', 'rule_id', 'kind', 'severity', 'subject', 'identity', 'window', 'opened_at', 'summary', 'exchange_ids', 'response']);
  assert.equal(p.console_link, links.console);
});
