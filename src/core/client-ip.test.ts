import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { clientIp } from './client-ip.ts';
import { fakeCredential } from '../../test/helpers/fake-credentials.ts';

describe('clientIp', () => {
  let server: Server;
  let url: string;
  before(async () => {
    server = createServer((req, res) => res.end(JSON.stringify({ trusted: clientIp(req, true) ?? null, untrusted: clientIp(req, false) ?? null })));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => new Promise<void>((ok) => server.close(() => ok())));
  const ask = async (xff?: string) => (await (await fetch(url, { headers: xff ? { 'x-forwarded-for': xff } : {} })).json()) as { trusted: string; untrusted: string };

  it('takes the first X-Forwarded-For hop only behind a trusted proxy, IPv4 or IPv6', async () => {
    assert.deepEqual(await ask('203.0.113.7, 10.0.0.1'), { trusted: '203.0.113.7', untrusted: '127.0.0.1' });
    assert.equal((await ask('2001:db8::1')).trusted, '2001:db8::1');
  });

  it('attack: header text that is not an address (a credential, markup) never becomes the client address', async () => {
    for (const bad of [`${fakeCredential.openaiProject()}, 10.0.0.1`, '<script>', 'unknown', '203.0.113.7:8080']) {
      assert.equal((await ask(bad)).trusted, '127.0.0.1', bad);
    }
  });
});
