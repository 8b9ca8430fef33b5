import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { ApprovalRow } from './repo.ts';
import { createWebhookNotifier } from './notifier.ts';

const row: ApprovalRow = {
  id: 'apr_1', state: 'pending', ruleId: 'r<1>', mode: 'hold', scope: 'request', requester: 'user:a', requesterName: 'A & B', requesterGroups: ['eng'],
  endpoint: 'openai.chat', model: 'gpt-4o', policyVersion: 'pv', decisionId: 'd', exchangeId: 'ex', digest: 'x', approverGroups: ['sec'], quorum: 1,
  eachGroup: false, windowMs: null, justification: 'ticket 1', breakGlass: false, findings: [{ type: 'EMAIL_ADDRESS', path: 'messages[0].content', start: 0, end: 3 }],
  sealedRequest: Buffer.from('sealed'), createdAt: 0, updatedAt: 0, expiresAt: 1000, decidedAt: null, decidedBy: null, reason: null,
};

test('generic JSON and Slack payloads reach real receivers with the link; a failing receiver is retried', async (t) => {
  const got: { path: string; body: Record<string, unknown>; headers: Record<string, unknown> }[] = [];
  let failures = 1;
  const server = createServer((req, res) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString()));
    req.on('end', () => {
      if (req.url === '/flaky' && failures-- > 0) return void res.writeHead(500).end();
      got.push({ path: req.url ?? '', body: JSON.parse(s) as Record<string, unknown>, headers: req.headers });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.after(() => new Promise<void>((ok) => server.close(() => ok())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const errors: unknown[] = [];
  const n = createWebhookNotifier({
    webhooks: [{ url: `${base}/json`, format: 'json', headers: { 'x-shared': 's3' } }, { url: `${base}/slack`, format: 'slack' }, { url: `${base}/flaky`, format: 'json' }],
    onError: (e) => void errors.push(e),
  });
  n.requested(row, { api: 'https://pcl.example/admin/v1/approvals/apr_1', console: 'https://pcl.example/console/#/approvals/apr_1' });
  await n.idle();
  const json = got.find((g) => g.path === '/json')!;
  assert.equal(json.body.link, 'https://pcl.example/admin/v1/approvals/apr_1');
  assert.equal(json.body.console_link, 'https://pcl.example/console/#/approvals/apr_1');
  assert.equal(json.headers['x-shared'], 's3');
  assert.deepEqual((json.body.approval as { findings: string[] }).findings, ['EMAIL_ADDRESS']);
  const slack = got.find((g) => g.path === '/slack')!;
  assert.match(String(slack.body.text), /A &amp; B .* rule r&lt;1&gt;\. <https:\/\/pcl\.example\/console\/#\/approvals\/apr_1\|Review apr_1>/, 'people get the console page');
  assert.ok(got.some((g) => g.path === '/flaky'), 'delivered on the second attempt');
  assert.deepEqual(errors, [{ url: base, attempt: 1, status: 500 }]);
  assert.ok(!JSON.stringify(got).includes('sealed'));
});
