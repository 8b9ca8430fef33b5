import { parseArgs } from 'node:util';
import { loadCredentials, saveCredentials } from '../../identity/client/credentials.ts';
import { toStored } from '../../identity/client/gateway-client.ts';
import { browserLogin, deviceLogin } from '../../identity/client/login.ts';
import { print, UsageError, type CliCommand, type CliIo } from '../io.ts';

export function gatewayUrl(flag: string | undefined, io: CliIo, stored?: string): string {
  return (flag ?? io.env.PORTCULLIS_GATEWAY ?? stored ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
}

export function parseFlags<T extends NonNullable<Parameters<typeof parseArgs>[0]>['options']>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...options, gateway: { type: 'string' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export const loginCommand: CliCommand = {
  summary: 'sign in through your identity provider and store a Portcullis token',
  usage: 'portcullis login [--device] [--idp NAME] [--saml NAME] [--no-browser] [--gateway URL]',
  async run(args, io) {
    const { values } = parseFlags(args, { device: { type: 'boolean' }, idp: { type: 'string' }, saml: { type: 'string' }, 'no-browser': { type: 'boolean' } });
    const gateway = gatewayUrl(values.gateway, io, (await loadCredentials(io.env))?.gateway);
    const say = (t: string): void => void print(io.stderr, t);
    let body: Record<string, unknown>;
    if (values.device) {
      body = await deviceLogin(gateway, values.idp, { say, openBrowser: false });
    } else {
      const path = values.saml ? `/auth/saml/${encodeURIComponent(values.saml)}/login` : `/auth/oidc/${encodeURIComponent(values.idp ?? (await defaultIdp(gateway)))}/login`;
      body = await browserLogin(gateway, path, { say, openBrowser: !values['no-browser'] });
    }
    const creds = toStored(gateway, body);
    const file = await saveCredentials(io.env, creds);
    say(`Signed in as ${creds.subject}${creds.groups.length ? ` (groups: ${creds.groups.join(', ')})` : ''}; token stored in ${file}`);
    return 0;
  },
};

async function defaultIdp(gateway: string): Promise<string> {
  const r = await fetch(`${gateway}/auth/providers`, { signal: AbortSignal.timeout(10_000) });
  const p = (await r.json()) as { oidc?: { name: string }[] };
  const first = p.oidc?.[0]?.name;
  if (!first) throw new UsageError('the gateway has no OIDC identity provider; use --saml NAME');
  return first;
}
