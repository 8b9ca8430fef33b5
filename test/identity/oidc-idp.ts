import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
// oidc-provider ships no type declarations; the test only needs its constructor and callback().
// @ts-expect-error -- untyped module
import ProviderModule from 'oidc-provider';

interface ProviderLike {
  callback(): (req: unknown, res: unknown) => void;
  proxy?: boolean;
}
const Provider = ProviderModule as new (issuer: string, config: Record<string, unknown>) => ProviderLike;

export interface TestAccount {
  email: string;
  groups: unknown;
  realm_access?: { roles: string[] };
}

export interface TestIdp {
  issuer: string;
  accounts: Map<string, TestAccount>;
  close(): Promise<void>;
}

/**
 * A real OpenID Provider (panva/node-oidc-provider) on loopback with its built-in dev login/consent pages: any
 * login name is accepted as the account id; claims come from `accounts`.
 */
export async function startTestIdp(o: { redirectUris: string[]; clientId?: string; clientSecret?: string }): Promise<TestIdp> {
  const accounts = new Map<string, TestAccount>();
  const server: Server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: o.clientId ?? 'portcullis',
      client_secret: o.clientSecret ?? 'portcullis-secret',
      redirect_uris: o.redirectUris,
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups', 'realm_access'] },
    scopes: ['openid', 'offline_access', 'email', 'groups'],
    features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true }, revocation: { enabled: true } },
    pkce: { required: () => true },
    ttl: { AccessToken: 600, IdToken: 600, RefreshToken: 86_400, DeviceCode: 600, Interaction: 600, Session: 3600, Grant: 86_400 },
    issueRefreshToken: () => true,
    findAccount: (_ctx: unknown, id: string) => {
      const a = accounts.get(id);
      if (!a) return undefined;
      return { accountId: id, claims: () => ({ sub: id, email: a.email, email_verified: true, groups: a.groups, realm_access: a.realm_access }) };
    },
  });
  server.on('request', provider.callback());
  return {
    issuer, accounts,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** A tiny browser: cookie jar + manual redirects + submitting the first POST form on a page. */
export class Browser {
  readonly #cookies = new Map<string, string>();

  async get(url: string): Promise<Response> {
    return this.#request(url, { method: 'GET' });
  }

  async post(url: string, fields: Record<string, string>): Promise<Response> {
    return this.#request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  }

  async #request(url: string, init: RequestInit): Promise<Response> {
    const host = new URL(url).host;
    const cookie = [...this.#cookies].filter(([k]) => k.startsWith(host + '|')).map(([k, v]) => `${k.split('|')[1]}=${v}`).join('; ');
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) } });
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const i = pair!.indexOf('=');
      this.#cookies.set(`${host}|${pair!.slice(0, i)}`, pair!.slice(i + 1));
    }
    return res;
  }

  /**
   * Follows redirects and submits the IdP's pages (login with `login` as the account, then consent, or a device
   * confirmation) until a redirect leaves for `stopAt` origin+path prefix, whose URL is returned; or until a page
   * without a form (returned as text).
   */
  async drive(start: string, o: { login: string; stopAt?: string; maxSteps?: number }): Promise<{ url?: string; page?: string }> {
    let res = await this.get(start);
    let at = start;
    for (let step = 0; step < (o.maxSteps ?? 20); step++) {
      if (res.status >= 300 && res.status < 400) {
        const next = new URL(res.headers.get('location')!, at).toString();
        if (o.stopAt && next.startsWith(o.stopAt)) return { url: next };
        at = next;
        res = await this.get(next);
        continue;
      }
      const html = await res.text();
      const form = /<form[^>]*action="([^"]*)"[^>]*method="post"/i.exec(html) ?? /<form[^>]*method="post"[^>]*action="([^"]*)"/i.exec(html);
      if (!form) return { page: html };
      const fields: Record<string, string> = {};
      for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
        const name = /name="([^"]*)"/.exec(m[0])?.[1];
        const value = /value="([^"]*)"/.exec(m[0])?.[1] ?? '';
        if (name) fields[name] = value.replace(/&amp;/g, '&');
      }
      if (fields.prompt === 'login') Object.assign(fields, { login: o.login, password: 'any' });
      at = new URL(form[1]!.replace(/&amp;/g, '&'), at).toString();
      res = await this.post(at, fields);
    }
    throw new Error('browser: too many steps');
  }
}
