import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { EXACT, startRawServer, type RawServer } from './raw-server.ts';
import { readJsonLines } from '../helpers/jsonl.ts';

/**
 * Issue #11 items 5 and 6 on the MCP endpoints. Item 5: when the gateway rewrites a tool call (masking, tokenization) or its
 * result, the numbers it did not mean to change reach the other side exactly as sent. A double cannot hold
 * 12345678901234567890123 (> 2^53), 1e400 (Infinity, written `null`), -0 or a 34-digit decimal; a plain
 * JSON.parse/JSON.stringify round trip changes each. The MCP server here is raw HTTP (the SDK would parse the
 * numbers itself) and records the exact bytes it received; the client is raw HTTP for the same reason. Item 6: the
 * names the gateway decides on (method, tool, prompt, resource URI) are refused with control characters in them.
 */
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('MCP messages from a raw client: exact numbers, identifiers', () => {
  let t: TestGateway;
  let upstream: RawServer;
  let session = '';

  const post = async (text: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(`${t.gw.url}/mcp/raw`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.userKey}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', ...(session ? { 'mcp-session-id': session } : {}) },
      body: text,
    });
    session ||= res.headers.get('mcp-session-id') ?? '';
    return { status: res.status, text: await res.text() };
  };
  /** The JSON-RPC message of an answer (JSON or one SSE event), as text. */
  const messageOf = (text: string): string => (text.startsWith('{') ? text : /^data: (.*)$/m.exec(text)?.[1] ?? text);

  before(async () => {
    upstream = await startRawServer();
    const dir = mkdtempSync(join(tmpdir(), 'pcl-mcp-n-'));
    writeFileSync(join(dir, 'policy.yaml'), `version: 1
defaults: { effect: allow }
rules: []
content:
  rules:
    - { id: pii, types: [EMAIL_ADDRESS], direction: both, action: mask }
mcp:
  defaults: { effect: allow }
  rules:
    - { id: no-huge-limit, effect: deny, servers: [raw], tools: [lookup], when: 'request.arguments.limit > 1000.0' }
`);
    t = await startTestGateway({ extraYaml: `
events:
  sinks: [{ name: siem, type: file, path: events.jsonl, batch_size: 1 }]
policy:
  file: ${join(dir, 'policy.yaml')}
mcp:
  servers:
    - name: raw
      url: ${upstream.url}
` });
    const init = await post('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}');
    assert.equal(init.status, 200, init.text);
    await post('{"jsonrpc":"2.0","method":"notifications/initialized"}');
  });
  after(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('a masked tool call reaches the server with the client\'s numbers; the masked result reaches the client with the server\'s', async () => {
    const r = await post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"lookup","arguments":{"who":"jane.roe@example.com","limit":12,${EXACT}}}}`);
    assert.equal(r.status, 200, r.text);
    const sent = upstream.bodies.find((b) => b.includes('"tools/call"'));
    assert.ok(sent, 'the call reached the server');
    assert.ok(!sent.includes('jane.roe@example.com'), 'the e-mail address was masked: the body was rewritten');
    assert.ok(sent.includes(EXACT), `the numbers reached the server as sent: ${sent}`);
    const answer = messageOf(r.text);
    assert.ok(!answer.includes('dave@example.com'), 'the result was masked: rewritten');
    assert.ok(answer.includes(EXACT), `the numbers reached the client as the server sent them: ${answer}`);
  });

  it('attack: a method, tool, prompt or resource name with control or invisible characters is refused, never forwarded', async () => {
    const before = upstream.bodies.length;
    const hostile = [
      '{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"lookup\\u0000x","arguments":{}}}',
      '{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"look\\u200bup","arguments":{}}}',
      '{"jsonrpc":"2.0","id":22,"method":"tools/call\\u001b[2J","params":{"name":"lookup","arguments":{}}}',
      '{"jsonrpc":"2.0","id":23,"method":"prompts/get","params":{"name":"p\\u202eevil"}}',
      '{"jsonrpc":"2.0","id":24,"method":"resources/read","params":{"uri":"file:///etc/x\\r\\nforged"}}',
    ];
    for (const body of hostile) {
      const r = await post(body);
      const m = JSON.parse(messageOf(r.text)) as { error?: { code: number; message: string } };
      assert.equal(m.error?.code, -32602, `${body}: ${r.text}`);
      assert.match(m.error.message, /control or invisible formatting characters/);
    }
    assert.equal(upstream.bodies.length, before, 'nothing reached the server');
  });

  it('a policy still reads such a number by its value; a request id a double cannot hold is refused, not answered under another id', async () => {
    const before = upstream.bodies.length;
    const denied = await post('{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"lookup","arguments":{"limit":123456789012345678901234567890}}}');
    assert.match(messageOf(denied.text), /denied_by_policy/, 'the rule compared the exact number by its value');
    const lossy = await post('{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{"name":"lookup","arguments":{}}}');
    assert.equal(lossy.status, 400, lossy.text);
    assert.ok(!lossy.text.includes('9007199254740992'), 'never answered under a neighbouring id');
    assert.equal(upstream.bodies.slice(before).filter((b) => b.includes('"tools/call"')).length, 0, 'nothing reached the server');
  });

  it('an MCP server refusing the gateway\'s credential is 502 for the agent and a credential.refused alert for the operator (#11 item 8)', async () => {
    upstream.refuseCredential = true;
    try {
      const r = await post('{"jsonrpc":"2.0","id":30,"method":"tools/call","params":{"name":"lookup","arguments":{"limit":1}}}');
      assert.equal(r.status, 502, r.text);
      assert.match(r.text, /refused the gateway's credential/);
      assert.doesNotMatch(r.text, /invalid_token|realm/, 'the server\'s answer and its authorization challenge are not passed to the agent');
    } finally {
      upstream.refuseCredential = false;
    }
    const alert = await eventually(async () => {
      const lines = await readJsonLines<Json>(join(t.dir, 'events.jsonl'));
      return lines.find((e) => e.metadata.event_code === 'credential.refused');
    }, 20_000);
    assert.equal(alert.entity.uid, 'mcp:raw');
    assert.equal(alert.unmapped.portcullis.upstream_status, 401);
  });
});
