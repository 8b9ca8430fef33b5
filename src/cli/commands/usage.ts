import { parse } from '../context.ts';
import { adminTarget } from '../admin-target.ts';
import { print, printJson, UsageError, type CliCommand } from '../io.ts';

/**
 * `portcullis usage`: current-window usage per limit and scope, from a running gateway's admin API
 * (`GET /admin/v1/usage`): counters may live in that gateway's memory, so the CLI asks the gateway.
 * Gateway and credential as src/cli/admin-target.ts finds them (--gateway, --key-file, PORTCULLIS_GATEWAY/TOKEN, login).
 */
export const usageCommand: CliCommand = {
  summary: 'show current budget and rate-limit usage per user, group, service and model',
  usage: 'portcullis usage [--scope group:eng] [--limit-id ID] [--gateway URL] [--key-file PATH] [--json]',
  async run(args, io) {
    const { values, positionals } = parse(args, {
      scope: { type: 'string' }, 'limit-id': { type: 'string' }, gateway: { type: 'string' }, 'key-file': { type: 'string' }, json: { type: 'boolean' },
    });
    if (positionals.length > 0) throw new UsageError('unexpected arguments');
    const { gateway, token } = await adminTarget(io, { gateway: values.gateway, keyFile: values['key-file'] });
    const url = new URL('/admin/v1/usage', gateway);
    if (values.scope) url.searchParams.set('scope', values.scope);
    if (values['limit-id']) url.searchParams.set('limit_id', values['limit-id']);
    const r = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
    const body = (await r.json()) as { data?: Record<string, unknown>[]; error?: { message?: string } };
    if (r.status !== 200 || !body.data) {
      print(io.stderr, `the gateway refused: ${r.status} ${body.error?.message ?? ''}`);
      return 1;
    }
    const text = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '-');
    if (values.json) printJson(io.stdout, body.data);
    else if (body.data.length === 0) print(io.stdout, 'no usage in the current windows');
    else {
      print(io.stdout, `${'SCOPE'.padEnd(36)} ${'LIMIT'.padEnd(20)} ${'METRIC'.padEnd(20)} ${'USED'.padStart(12)} ${'OF'.padStart(12)}  RESETS`);
      for (const u of body.data) {
        print(io.stdout, `${text(u.scope).padEnd(36)} ${text(u.limit_id).padEnd(20)} ${text(u.metric).padEnd(20)} ${text(u.used).padStart(12)} ${text(u.limit).padStart(12)}  ${text(u.window_end)}`);
      }
    }
    return 0;
  },
};
