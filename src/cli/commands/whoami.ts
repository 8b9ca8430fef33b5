import { adminTarget, TARGET_FLAGS } from '../admin-target.ts';
import { print, printJson, UsageError, type CliCommand } from '../io.ts';
import { parseFlags } from './login.ts';

const SOURCE_TEXT = { 'key-file': '--key-file', env: 'PORTCULLIS_TOKEN', login: 'portcullis login' } as const;

/** Who the gateway takes the caller for, with the credential src/cli/admin-target.ts picks (as every gateway command). */
export const whoamiCommand: CliCommand = {
  summary: 'show who you are signed in as, your groups and token expiry',
  usage: 'portcullis whoami [--gateway URL] [--key-file PATH] [--json]',
  async run(args, io) {
    const { values, positionals } = parseFlags(args, { ...TARGET_FLAGS, json: { type: 'boolean' } });
    if (positionals.length > 0) throw new UsageError('unexpected arguments');
    const t = await adminTarget(io, { gateway: values.gateway, keyFile: values['key-file'] });
    const r = await fetch(`${t.gateway}/auth/whoami`, { headers: { authorization: `Bearer ${t.token}` }, signal: AbortSignal.timeout(10_000) });
    const me = (await r.json().catch(() => ({}))) as Record<string, unknown>;
    if (r.status !== 200) {
      print(io.stderr, `the gateway rejected the credential from ${SOURCE_TEXT[t.source.kind]}${t.source.kind === 'login' ? '; run `portcullis login`' : ''}`);
      return 1;
    }
    const login = t.source.kind === 'login' ? t.source.login : undefined;
    const expires = login ? new Date(login.expires_at).toISOString() : null;
    if (values.json) {
      printJson(io.stdout, { ...me, gateway: t.gateway, credential_source: t.source.kind, expires_at: expires });
      return 0;
    }
    const list = (v: unknown): string => (Array.isArray(v) ? v.map(String).join(', ') : '') || '(none)';
    print(io.stdout, String(me.subject), `  groups:  ${list(me.groups)}`, `  roles:   ${list(me.roles)}`, `  gateway: ${t.gateway}`,
      `  credential: ${SOURCE_TEXT[t.source.kind]}`,
      ...(expires ? [`  expires: ${expires}${login?.refresh_token ? ' (refreshed automatically)' : ''}`] : []));
    return 0;
  },
};
