import { chainedCliChange } from '../audited.ts';
import { openStoreSession, parse } from '../context.ts';
import { print, UsageError, type CliCommand } from '../io.ts';

/** Provider keys are write-only: `set` reads the key from stdin (never argv, which leaks into shell history and ps). */
export const credentialsCommand: CliCommand = {
  summary: 'store a provider API key (write-only, encrypted at rest)',
  usage: 'portcullis credentials set PROVIDER [--config FILE]   (key read from stdin)\n       portcullis credentials list [--config FILE]',
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parse(rest, {});
    if (sub !== 'set' && sub !== 'list') throw new UsageError('expected set or list');
    const s = await openStoreSession(values.config, io);
    try {
      if (sub === 'list') {
        for (const c of await s.store.credentials.list()) print(io.stdout, `${c.provider}  updated ${new Date(c.updatedAt).toISOString()} by ${c.updatedBy}`);
        return 0;
      }
      const name = positionals[0];
      if (!name) throw new UsageError('give the provider name');
      if (!s.loaded.config.providers.some((p) => p.name === name)) throw new UsageError(`no provider "${name}" in the config`);
      const chunks: Buffer[] = [];
      for await (const c of io.stdin) chunks.push(Buffer.from(c as Buffer));
      const key = Buffer.concat(chunks).toString('utf8').trim();
      if (key.length < 8) throw new UsageError('no key on stdin');
      await chainedCliChange(s, { action: 'credentials.set', target: name }, async () => {
        await s.store.credentials.put(name, s.keyring.seal('provider-credentials', Buffer.from(key), `provider/${name}`), Date.now(), `cli:${io.env.USER ?? 'unknown'}`);
        return { value: undefined, made: true };
      });
      print(io.stdout, `stored credential for ${name}; a running gateway picks it up on restart, or set it through the admin API to apply at once`);
      return 0;
    } finally {
      await s.close();
    }
  },
};
