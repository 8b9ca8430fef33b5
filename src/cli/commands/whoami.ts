import { loadCredentials } from '../../identity/client/credentials.ts';
import { freshCredentials } from '../../identity/client/gateway-client.ts';
import { print, printJson, type CliCommand } from '../io.ts';
import { parseFlags } from './login.ts';

export const whoamiCommand: CliCommand = {
  summary: 'show who you are signed in as, your groups and token expiry',
  usage: 'portcullis whoami [--json]',
  async run(args, io) {
    const { values } = parseFlags(args, { json: { type: 'boolean' } });
    const stored = await loadCredentials(io.env);
    if (!stored) {
      print(io.stderr, 'not signed in; run `portcullis login`');
      return 1;
    }
    const c = await freshCredentials(io.env, stored);
    const r = await fetch(`${c.gateway}/auth/whoami`, { headers: { authorization: `Bearer ${c.access_token}` }, signal: AbortSignal.timeout(10_000) });
    const me = (await r.json()) as Record<string, unknown>;
    if (r.status !== 200) {
      print(io.stderr, 'the gateway rejected your token; run `portcullis login`');
      return 1;
    }
    const expires = new Date(c.expires_at).toISOString();
    if (values.json) printJson(io.stdout, { ...me, gateway: c.gateway, expires_at: expires });
    else print(io.stdout, `${String(me.subject)}\n  groups:  ${(me.groups as string[]).join(', ') || '(none)'}\n  roles:   ${(me.roles as string[]).join(', ') || '(none)'}\n  gateway: ${c.gateway}\n  expires: ${expires}${c.refresh_token ? ' (refreshed automatically)' : ''}`);
    return 0;
  },
};
