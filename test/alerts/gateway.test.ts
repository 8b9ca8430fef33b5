import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { runCli } from '../../src/cli/main.ts';
import { launchChromium } from '../console/browser.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

/**
 * Alert rules end to end (issue #15 item 3): two real gateway replicas on one PostgreSQL, real OpenAI SDK traffic.
 * Refusals by one identity through both replicas open ONE investigation; its OCSF event reaches the SIEM collector
 * and its JSON and Slack webhooks arrive once; the identity is suspended — including the attack of switching to
 * another of its keys on the other replica — until an admin lifts it with the CLI. The console of the other replica
 * (real Chromium) shows the one investigation with its exchanges linked.
 */
let pg: TestPostgres;
let a: TestGateway;
let b: TestGateway;
let receiver: Server;
const received: { path: string; body: unknown }[] = [];

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(body) as unknown });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((ok) => receiver.listen(0, '127.0.0.1', ok));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  pg = await startTestPostgres();
  const masterKey = randomBytes(32).toString('base64');
  const extraYaml = `
events:
  sinks:
    - { name: siem, type: http, url: "${hook}/siem" }
alerts:
  eval_interval_ms: 100
  suspension_refresh_ms: 200
  webhooks:
    - { url: "${hook}/json" }
    - { url: "${hook}/slack", format: slack }
  rules:
    - { id: repeated-refusals, kind: refusals, threshold: 4, window_minutes: 10, severity: high, respond: suspend }
`;
  // Two replicas in one process: each its own audit chain, as two deployed replicas (the default writer id is
  // <host>-<pid>, shared here, and two writers appending to one chain collide on its sequence).
  a = await startTestGateway({ storeUrl: pg.url, masterKey, extraYaml: `${extraYaml}audit:\n  writer_id: alerts-a\n` });
  b = await startTestGateway({ storeUrl: pg.url, masterKey, extraYaml: `${extraYaml}audit:\n  writer_id: alerts-b\n` });
});
after(async () => {
  await a.close();
  await b.close();
  await pg.stop();
  receiver.close();
});

const SCHEMA = JSON.parse(readFileSync(new URL('../../schemas/admin-api.schema.json', import.meta.url), 'utf8')) as { $id: string };
const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addSchema(SCHEMA);
/** Answers match schemas/admin-api.schema.json (the routes test/cli/api-schema.test.ts cannot reach without a firing). */
function matches(name: string, value: unknown): void {
  const v = ajv.getSchema(`${SCHEMA.$id}#/definitions/${name}`)!;
  assert.ok(v(value), `${name}: ${ajv.errorsText(v.errors)}`);
}

async function admin(t: TestGateway, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(new URL(path, t.gw.url), { method, headers: { authorization: `Bearer ${a.adminKey}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

async function cli(t: TestGateway, args: string[]): Promise<{ code: number; out: string }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const code = await runCli(args, { stdin: new PassThrough(), stdout: out, stderr: out, env: { PORTCULLIS_GATEWAY: t.gw.url, PORTCULLIS_TOKEN: a.adminKey }, cwd: t.dir });
  return { code, out: text };
}

const ask = (t: TestGateway, key: string, model = 'gpt-4o') => new OpenAI({ baseURL: t.openaiBase, apiKey: key, maxRetries: 0 }).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });

test('refusals across two replicas open one investigation, notify once, and suspend every key of the identity until lifted', async () => {
  const k1 = (await admin(a, 'POST', '/admin/v1/keys', { name: 'mallory', groups: ['eng'] })).body.key as string;
  const k2 = (await admin(a, 'POST', '/admin/v1/keys', { name: 'mallory', groups: ['eng'] })).body.key as string;
  assert.ok(k1 && k2 && k1 !== k2);
  await ask(a, k1);
  // Four refusals (a model no route serves), two through each replica.
  for (const t of [a, b, a, b]) await assert.rejects(ask(t, k1, 'not-routed'), /not available/);

  const opened = await eventually(async () => {
    const l = await admin(b, 'GET', '/admin/v1/investigations');
    const rows = l.body.data as Record<string, unknown>[];
    return rows.length > 0 ? rows : undefined;
  }, 15_000);
  // Both replicas evaluate what has finished before they answer: still one.
  for (const t of [a, b]) assert.equal(((await admin(t, 'GET', '/admin/v1/investigations')).body.data as unknown[]).length, 1, 'one investigation across two replicas');
  const inv = opened[0]!;
  assert.equal(inv.rule_id, 'repeated-refusals');
  assert.equal(inv.identity, 'user:mallory');
  assert.equal(inv.state, 'open');
  assert.equal((inv.exchange_ids as string[]).length, 4);

  // The SIEM event and the webhooks, once each.
  const siem = await eventually(async () => {
    const found = received.filter((r) => r.path === '/siem').flatMap((r) => r.body as Record<string, unknown>[]).filter((e) => (e.metadata as { event_code: string }).event_code === 'alert.fired');
    return found.length > 0 ? found : undefined;
  }, 15_000);
  assert.equal(siem.length, 1);
  assert.equal(siem[0]!.class_uid, 2005, 'OCSF Incident Finding');
  assert.equal((siem[0]!.finding_info_list as { uid: string }[])[0]!.uid, inv.id);
  const hooks = await eventually(async () => {
    const h = received.filter((r) => r.path === '/json' || r.path === '/slack');
    return h.length >= 2 ? h : undefined;
  });
  assert.deepEqual(hooks.map((h) => h.path).sort(), ['/json', '/slack']);
  const json = hooks.find((h) => h.path === '/json')!.body as { investigation: { id: string }; console_link: string };
  assert.equal(json.investigation.id, inv.id);
  assert.match(json.console_link, new RegExp(`/console/#/investigations/${String(inv.id)}$`));
  assert.match((hooks.find((h) => h.path === '/slack')!.body as { text: string }).text, /repeated-refusals/);

  // Suspended: the key that did it, on the replica that fired or not…
  const refusedWith = async (t: TestGateway, key: string) => {
    const err = await ask(t, key).then(() => undefined, (e: unknown) => e as { status: number; code: string });
    return err ? `${err.status} ${err.code}` : 'ok';
  };
  for (const t of [a, b]) assert.equal(await eventually(async () => ((await refusedWith(t, k1)) === 'ok' ? undefined : refusedWith(t, k1)), 5000), '400 identity_suspended');
  // …and the attack: the same identity switches to its other key, on the other replica.
  assert.equal(await refusedWith(b, k2), '400 identity_suspended');
  assert.equal(await refusedWith(a, a.userKey), 'ok', 'others are not affected');
  const detail = await admin(a, 'GET', `/admin/v1/investigations/${String(inv.id)}`);
  assert.equal(detail.body.suspended, true);
  assert.equal((detail.body.active_response as { mode: string }).mode, 'suspend');
  matches('investigation_detail', detail.body);
  matches('suspension_list', (await admin(b, 'GET', '/admin/v1/suspensions')).body);
  assert.deepEqual((detail.body.exchanges as { status: string; error_code: string }[]).map((x) => `${x.status}:${x.error_code}`), Array(4).fill('rejected:unknown_model'));

  // The audit trail holds the firing, chained.
  const trail = await a.gw.evidence.audit.repo.entriesBetween(0, Date.now() + 1000);
  assert.equal(trail.filter((e) => e.kind === 'alert.fired' && e.refId === inv.id).length, 1, 'one chained entry for one firing');

  // In real Chromium, on the console of the other replica: one investigation, its four exchanges linked, the suspension.
  const browser = await launchChromium();
  try {
    const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await p.goto(`${b.gw.url}/console/#/investigations`);
    await p.fill('#token', a.adminKey);
    await p.click('button[type=submit]');
    await p.waitForSelector('#investigations tbody tr');
    assert.equal(await p.locator('#investigations tbody tr').count(), 1, 'one investigation in the console');
    await p.click('#investigations tbody tr a');
    await p.waitForSelector('#inv-facts');
    assert.deepEqual((await p.$$eval('#inv-exchanges a', (as) => as.map((x) => x.getAttribute('href')))).sort(), (inv.exchange_ids as string[]).map((id) => `#/exchanges/${id}`).sort());
    assert.match(await p.textContent('#inv-suspended') ?? '', /user:mallory is suspended/);
  } finally {
    await browser.close();
  }

  // Work the investigation with the CLI, lift the suspension; both replicas let mallory through again.
  assert.equal((await cli(b, ['investigations', 'assign', String(inv.id)])).code, 0);
  assert.equal((await cli(a, ['investigations', 'note', String(inv.id), '--text', 'talked to mallory'])).code, 0);
  const noted = await admin(a, 'POST', `/admin/v1/investigations/${String(inv.id)}/notes`, { text: '<img src=x onerror=alert(1)>' });
  matches('investigation', noted.body);
  const lifted = await cli(a, ['suspensions', 'lift', 'user:mallory']);
  assert.equal(lifted.code, 0, lifted.out);
  for (const t of [a, b]) for (const k of [k1, k2]) assert.equal(await eventually(async () => ((await refusedWith(t, k)) === 'ok' ? 'ok' : undefined), 5000), 'ok');
  const closed = await cli(a, ['investigations', 'close', String(inv.id), '--resolution', 'misconfigured client']);
  assert.equal(closed.code, 0, closed.out);
  const shown = await cli(b, ['investigations', 'show', String(inv.id)]);
  assert.match(shown.out, /state\s+closed/);
  assert.match(shown.out, /note .* user:admin: talked to mallory/);
  matches('investigation', ((await admin(b, 'GET', '/admin/v1/investigations?state=closed')).body.data as unknown[])[0]);
  const again = await admin(a, 'POST', `/admin/v1/investigations/${String(inv.id)}/notes`, { text: 'late' });
  assert.equal(again.status, 409, 'a closed investigation does not change');
  const asUser = await fetch(new URL('/admin/v1/investigations', a.gw.url), { headers: { authorization: `Bearer ${a.userKey}` } });
  assert.equal(asUser.status, 403);
});
