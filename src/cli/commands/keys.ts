import { createApiKey, parseDuration, publicKeyView } from '../../identity/key-service.ts';
import { chainedCliChange } from '../audited.ts';
import { openStoreSession, parse } from '../context.ts';
import { print, printJson, UsageError, type CliCommand } from '../io.ts';

export const keysCommand: CliCommand = {
  summary: 'create, list and revoke Portcullis API keys',
  usage: 'portcullis keys create --user NAME | --service NAME [--groups a,b] [--expires 30d] [--description TEXT] [--config FILE]\n       portcullis keys list [--json] [--config FILE]\n       portcullis keys revoke ID [--config FILE]',
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parse(rest, {
      user: { type: 'string' }, service: { type: 'string' }, groups: { type: 'string' }, expires: { type: 'string' },
      description: { type: 'string' }, json: { type: 'boolean' },
    });
    if (sub !== 'create' && sub !== 'list' && sub !== 'revoke') throw new UsageError('expected create, list or revoke');
    if (sub === 'create' && !values.user === !values.service) throw new UsageError('give exactly one of --user or --service');
    if (sub === 'revoke' && positionals.length !== 1) throw new UsageError('give the key id to revoke');
    const expiresIn = values.expires ? parseDuration(values.expires) : undefined;
    const s = await openStoreSession(values.config, io);
    try {
      if (sub === 'create') {
        const { record, secret } = await chainedCliChange(s, { action: 'keys.create', target: null }, async () => {
          const created = await createApiKey(s.store.apiKeys, {
            name: (values.user ?? values.service)!,
            kind: values.user ? 'user' : 'service',
            groups: values.groups ? values.groups.split(',').map((g) => g.trim()).filter(Boolean) : [],
            expiresAt: expiresIn === undefined ? null : Date.now() + expiresIn,
            createdBy: `cli:${io.env.USER ?? 'unknown'}`,
            description: values.description ?? null,
          }, Date.now());
          return { value: created, made: true, target: created.record.id, details: { kind: created.record.kind, subject: created.record.subject } };
        });
        if (values.json) printJson(io.stdout, { ...publicKeyView(record), key: secret });
        else {
          print(io.stdout, secret);
          print(io.stderr, `created key ${record.id} for ${record.subject}${record.groups.length ? ` (groups: ${record.groups.join(', ')})` : ''}; it is shown only once`);
        }
        return 0;
      }
      if (sub === 'list') {
        const keys = (await s.store.apiKeys.list()).map(publicKeyView);
        if (values.json) printJson(io.stdout, keys);
        else for (const k of keys) print(io.stdout, `${String(k.id)}  ${String(k.subject).padEnd(30)} ${k.revoked_at ? 'revoked' : 'active '}  groups=${(k.groups as string[]).join(',')}`);
        return 0;
      }
      const id = positionals[0]!;
      const ok = await chainedCliChange(s, { action: 'keys.revoke', target: id }, async () => {
        const revoked = await s.store.apiKeys.revoke(id, Date.now());
        return { value: revoked, made: revoked };
      });
      print(ok ? io.stdout : io.stderr, ok ? `revoked ${positionals[0]}` : `no active key ${positionals[0]}`);
      return ok ? 0 : 1;
    } finally {
      await s.close();
    }
  },
};
