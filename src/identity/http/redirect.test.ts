import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCliRedirect } from './util.ts';

test('a login hands its code to a loopback listener or to this gateway\'s console page, nowhere else', () => {
  const pub = 'https://pcl.corp';
  for (const ok of ['http://127.0.0.1:5123/callback', 'http://localhost:9/cb', 'http://[::1]:80/x', 'https://pcl.corp/console/']) {
    assert.equal(checkCliRedirect(ok, pub).href, new URL(ok).href, ok);
  }
  assert.equal(checkCliRedirect('https://gw.corp/pcl/console/', 'https://gw.corp/pcl/').href, 'https://gw.corp/pcl/console/', 'a public URL with a path prefix');
  // Attacks: another host, a look-alike host, another scheme or page of the gateway, smuggled query or fragment, userinfo.
  for (const bad of [
    'https://evil.example/console/', 'https://pcl.corp.evil.example/console/', 'http://pcl.corp/console/', 'https://pcl.corp/console/app.js',
    'https://pcl.corp/console', 'https://pcl.corp/console/?x=1', 'https://pcl.corp/console/#/approvals', 'https://user@pcl.corp/console/',
    'https://pcl.corp/admin/v1/keys', 'http://127.0.0.1.evil.example/cb', 'http://u:p@127.0.0.1:1/cb', 'not a url',
  ]) assert.throws(() => checkCliRedirect(bad, pub), /cli_redirect must be/, bad);
  assert.throws(() => checkCliRedirect('https://pcl.corp/console/'), /cli_redirect must be/, 'without the public URL only loopback is allowed');
});
