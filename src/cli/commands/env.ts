import { toolEnv } from '../../identity/client/gateway-client.ts';
import { adminTarget, TARGET_FLAGS } from '../admin-target.ts';
import { parseFlags } from './login.ts';
import { print, UsageError, type CliCommand } from '../io.ts';

/** Gateway and credential as src/cli/admin-target.ts picks them for every gateway command. */
export const envCommand: CliCommand = {
  summary: 'print shell exports pointing OpenAI/Anthropic SDKs at the gateway with a fresh token',
  usage: 'eval "$(portcullis env [--gateway URL] [--key-file PATH])"',
  async run(args, io) {
    const { values, positionals } = parseFlags(args, TARGET_FLAGS);
    if (positionals.length > 0) throw new UsageError('unexpected arguments');
    const t = await adminTarget(io, { gateway: values.gateway, keyFile: values['key-file'] });
    // Single-quoted for the shell; the value itself never holds a control character (a token or a URL).
    for (const [k, v] of Object.entries(toolEnv(t))) print(io.stdout, `export ${k}='${v.replace(/'/g, `'\\''`)}'`);
    return 0;
  },
};
