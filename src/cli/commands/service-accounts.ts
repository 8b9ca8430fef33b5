import { createApiKey, parseDuration, publicKeyView } from '../../identity/key-service.ts';
import { chainedCliChange } from '../audited.ts';
import { openStoreSession, parse } from '../context.ts';
import { print, printJson, UsageError, type CliCommand } from '../io.ts';

/**
 * Service accounts are Portcullis keys of kind `service`: scoped by their groups (what policies grant them),
 * always expiring (default 90d), rotatable (new key, old one revoked or left to expire) and revocable.
 */
export const serviceAccountsCommand: CliCommand = {
  summary: 'create, list, rotate and revoke service-account keys for pipelines',
  usage: 'portcullis service-accounts create NAME --groups a,b [--expires 90d] [--description TEXT] [--json]\n'
    + '       portcullis service-accounts list [--json]\n'
    + '       portcullis service-accounts rotate KEY_ID [--expires 90d] [--keep-old] [--json]\n'
    + '       portcullis service-accounts revoke KEY_ID',
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parse(rest, {
      groups: { type: 'string' }, expires: { type: 'string' }, description: { type: 'string' }, json: { type: 'boolean' }, 'keep-old': { type: 'boolean' },
    });
    if (!['create', 'list', 'rotate', 'revoke'].includes(sub ?? '')) throw new UsageError('expected create, list, rotate or revoke');
    if (sub !== 'list' && positionals.length !== 1) throw new UsageError(sub === 'create' ? 'give the service account name' : 'give the key id');
    if (sub === 'create' && !values.groups) throw new UsageError('a service account needs --groups (its scope)');
    const ttl = parseDuration(values.expires ?? '90d');
    const s = await openStoreSession(values.config, io);
    try {
      const now = Date.now();
      if (sub === 'list') {
        const rows = (await s.store.apiKeys.list()).filter((k) => k.kind === 'service').map(publicKeyView);
        if (values.json) printJson(io.stdout, rows);
        else for (const k of rows) print(io.stdout, `${String(k.id)}  ${String(k.subject).padEnd(30)} ${k.revoked_at ? 'revoked' : 'active '}  expires=${String(k.expires_at)}  groups=${(k.groups as string[]).join(',')}`);
        return 0;
      }
      if (sub === 'revoke') {
        const id = positionals[0]!;
        const ok = await chainedCliChange(s, { action: 'keys.revoke', target: id }, async () => {
          const revoked = await s.store.apiKeys.revoke(id, now);
          return { value: revoked, made: revoked };
        });
        print(ok ? io.stdout : io.stderr, ok ? `revoked ${positionals[0]!}` : `no active key ${positionals[0]!}`);
        return ok ? 0 : 1;
      }
      let name = positionals[0]!;
      let groups = (values.groups ?? '').split(',').map((g) => g.trim()).filter(Boolean);
      if (sub === 'rotate') {
        const old = await s.store.apiKeys.get(positionals[0]!);
        if (!old || old.kind !== 'service' || old.revokedAt !== null) throw new UsageError(`no active service key ${positionals[0]!}`);
        name = old.displayName;
        groups = old.groups;
      }
      const rotated = sub === 'rotate' ? positionals[0]! : null;
      const { record, secret } = await chainedCliChange(s, { action: rotated ? 'keys.rotate' : 'keys.create', target: rotated }, async () => {
        if (rotated && !values['keep-old']) await s.store.apiKeys.revoke(rotated, now);
        const created = await createApiKey(s.store.apiKeys, {
          name, kind: 'service', groups, expiresAt: now + ttl, createdBy: `cli:${io.env.USER ?? 'unknown'}`, description: values.description ?? null,
        }, now);
        const facts = { kind: 'service', subject: created.record.subject };
        return rotated
          ? { value: created, made: true, details: { ...facts, new_key: created.record.id, old_key_revoked: !values['keep-old'] } }
          : { value: created, made: true, target: created.record.id, details: facts };
      });
      if (values.json) printJson(io.stdout, { ...publicKeyView(record), key: secret });
      else {
        print(io.stdout, secret);
        print(io.stderr, `${sub === 'rotate' ? 'rotated' : 'created'} service key ${record.id} for ${record.subject}; shown only once`);
      }
      return 0;
    } finally {
      await s.close();
    }
  },
};
