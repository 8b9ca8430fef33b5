import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import { parseConfig } from '../../src/config/loader.ts';
import { systemClock, type Clock } from '../../src/core/clock.ts';
import { isGatewayError, toGatewayError } from '../../src/core/errors.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { Router } from '../../src/http/route.ts';
import { createIdentity, type Identity, type IdentityEvent } from '../../src/identity/index.ts';
import type { IdentityRepo } from '../../src/identity/repo.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { sqliteIdentityRepo } from '../../src/store/sqlite/identity.ts';

/** A settable clock for expiry tests. */
export function testClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return { now: () => Date.now() + offset, mono: () => performance.now() + offset, advance: (ms) => void (offset += ms) };
}

export interface Harness {
  url: string;
  identity: Identity;
  repo: IdentityRepo;
  store: SqliteStore;
  events: IdentityEvent[];
  /** GET /probe with a bearer: the principal as JSON, or the error. */
  probe(credential: string, headers?: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

/**
 * A tiny real HTTP server mounting the identity routes with the gateway's Router, plus `/probe` that runs the
 * identity authenticator chain the way the gateway does — real sockets, no stubs.
 */
export async function startHarness(o: { identityYaml: string | ((url: string) => Promise<string>); clock?: Clock; env?: NodeJS.ProcessEnv; authYaml?: string }): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-identity-'));
  const store = await SqliteStore.open({ path: join(dir, 'db.sqlite'), synchronous: 'normal' });
  const repo = sqliteIdentityRepo(store);
  const router = new Router();
  const events: IdentityEvent[] = [];
  const ref: { identity?: Identity } = {};
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    void (async () => {
      try {
        if (path === '/probe') {
          const cred = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
          const a = ref.identity!.authenticators.find((x) => x.accepts(cred));
          if (!a) throw toGatewayError(new Error('unrecognized'));
          const p = await a.authenticate(cred, { sourceIp: req.socket.remoteAddress, userAgent: undefined });
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(p));
          return;
        }
        const m = router.match(req.method ?? 'GET', path);
        if (!m || m === 'method') return void res.writeHead(404).end();
        await m.route.handler(req, res, m.params);
      } catch (err) {
        const g = toGatewayError(err);
        const reason = isGatewayError(err) ? err.details?.reason : undefined;
        if (!res.headersSent) res.writeHead(g.status, { 'content-type': 'application/json', ...g.headers }).end(JSON.stringify({ error: { code: g.code, message: g.publicMessage, reason } }));
      }
    })();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = parseConfig(`
providers: [{ name: mock, type: mock }]
routes: [{ model: "*", provider: mock }]
auth:
  roles: { admin: [portcullis-admins], user: ["*"] }
${o.authYaml ?? ''}
identity:
${(typeof o.identityYaml === 'string' ? o.identityYaml : await o.identityYaml(url)).replace(/^/gm, '  ')}
`, 'identity-test.yaml');
  const identity = await createIdentity({
    config, repo, keyring: new Keyring(randomBytes(32)), clock: o.clock ?? systemClock, publicUrl: url,
    emit: (e) => events.push(e), env: o.env ?? process.env, baseDir: dir,
  });
  ref.identity = identity;
  router.add(...identity.routes);
  return {
    url, identity, repo, store, events,
    async probe(credential, headers = {}) {
      const r = await fetch(`${url}/probe`, { headers: { authorization: `Bearer ${credential}`, ...headers } });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await store.close();
    },
  };
}

export interface JwtIssuer {
  issuer: string;
  kid: string;
  publicJwk: JWK;
  privateKey: CryptoKey;
  sign(claims: JWTPayload, o?: { kid?: string; alg?: string; key?: CryptoKey; expSeconds?: number }): Promise<string>;
  /** Adds a new signing key (and publishes it); old keys stay published unless `dropOld`. */
  rotate(dropOld?: boolean): Promise<void>;
  jwksFetches: number;
  close(): Promise<void>;
}

/** A minimal OIDC-discoverable JWT issuer (a CI provider): discovery document + JWKS on a real socket. */
export async function startJwtIssuer(): Promise<JwtIssuer> {
  const keys: { kid: string; jwk: JWK; priv: CryptoKey }[] = [];
  const addKey = async (): Promise<void> => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = `k${keys.length + 1}-${randomBytes(3).toString('hex')}`;
    keys.push({ kid, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }, priv: privateKey });
  };
  await addKey();
  let issuer = '';
  const state = { fetches: 0 };
  const server = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    }
    if (req.url === '/jwks') {
      state.fetches++;
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const self: JwtIssuer = {
    issuer,
    get kid() { return keys[keys.length - 1]!.kid; },
    get publicJwk() { return keys[keys.length - 1]!.jwk; },
    get privateKey() { return keys[keys.length - 1]!.priv; },
    get jwksFetches() { return state.fetches; },
    async sign(claims, so = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iat: now, exp: now + (so.expSeconds ?? 300), iss: issuer, ...claims })
        .setProtectedHeader({ alg: so.alg ?? 'RS256', kid: so.kid ?? self.kid, typ: 'JWT' })
        .sign(so.key ?? self.privateKey);
    },
    async rotate(dropOld = false) {
      await addKey();
      if (dropOld) keys.splice(0, keys.length - 1);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
  return self;
}

export async function postForm(url: string, params: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}
