import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthError, errorOf, postForm } from './gateway-client.ts';

export interface LoginIo {
  say(text: string): void;
  openBrowser: boolean;
}

/** RFC 8628 from the CLI side: show the code, poll the gateway at the interval it asks for. */
export async function deviceLogin(gateway: string, idp: string | undefined, io: LoginIo): Promise<Record<string, unknown>> {
  const s = await postForm(`${gateway}/auth/device/start`, idp ? { idp } : {});
  if (s.status !== 200) throw new AuthError(`device login could not start (${errorOf(s)})`);
  const handle = String(s.body.device_handle);
  io.say(`To sign in, open ${String(s.body.verification_uri)} and enter the code ${String(s.body.user_code)}`);
  if (typeof s.body.verification_uri_complete === 'string') io.say(`(or open ${s.body.verification_uri_complete})`);
  let interval = Number(s.body.interval ?? 5) * 1000;
  const deadline = Date.now() + Number(s.body.expires_in ?? 600) * 1000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, interval));
    const p = await postForm(`${gateway}/auth/device/poll`, { device_handle: handle });
    if (p.status === 200) return p.body;
    if (p.body.error === 'slow_down') interval += 5000;
    else if (p.body.error !== 'authorization_pending') throw new AuthError(`device login failed (${errorOf(p)})`);
  }
  throw new AuthError('device login timed out');
}

/**
 * Browser login (RFC 8252): a one-shot listener on 127.0.0.1:0 receives the gateway's redirect; the code it carries
 * is bound to our PKCE challenge, so only this process can redeem it.
 */
export async function browserLogin(gateway: string, loginPath: string, io: LoginIo): Promise<Record<string, unknown>> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');
  let done!: (v: URLSearchParams) => void;
  const got = new Promise<URLSearchParams>((ok) => (done = ok));
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (u.pathname !== '/callback' || u.searchParams.get('state') !== state) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(u.searchParams.has('code') ? 'Signed in to Portcullis. You can close this window.' : 'Sign-in failed. See your terminal.');
    done(u.searchParams);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  try {
    const cb = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
    const url = `${gateway}${loginPath}?` + new URLSearchParams({ cli_redirect: cb, cli_challenge: challenge, cli_state: state }).toString();
    io.say('Opening your browser to sign in. If it does not open, visit:');
    io.say(`  ${url}`);
    if (io.openBrowser) tryOpen(url);
    const params = await Promise.race([got, new Promise<never>((_, no) => setTimeout(() => no(new AuthError('browser login timed out')), 10 * 60_000).unref())]);
    const code = params.get('code');
    if (!code) throw new AuthError(`sign-in failed (${params.get('error') ?? 'unknown error'})`);
    const t = await postForm(`${gateway}/auth/token`, { grant_type: 'authorization_code', code, code_verifier: verifier });
    if (t.status !== 200) throw new AuthError(`could not redeem the login (${errorOf(t)})`);
    return t.body;
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

function tryOpen(url: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    /* no browser: the URL is printed */
  }
}
