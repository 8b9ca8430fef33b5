import { loadCredentials } from '../../identity/client/credentials.ts';
import { freshCredentials, toolEnv } from '../../identity/client/gateway-client.ts';
import { print, type CliCommand } from '../io.ts';

export const envCommand: CliCommand = {
  summary: 'print shell exports pointing OpenAI/Anthropic SDKs at the gateway with a fresh token',
  usage: 'eval "$(portcullis env)"',
  async run(_args, io) {
    const stored = await loadCredentials(io.env);
    if (!stored) {
      print(io.stderr, 'not signed in; run `portcullis login`');
      return 1;
    }
    const env = toolEnv(await freshCredentials(io.env, stored));
    for (const [k, v] of Object.entries(env)) print(io.stdout, `export ${k}='${v.replace(/'/g, `'\\''`)}'`);
    return 0;
  },
};
