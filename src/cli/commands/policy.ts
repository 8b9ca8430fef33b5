import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PolicyError } from '../../policy/errors.ts';
import { loadPolicy } from '../../policy/load.ts';
import { parse } from '../context.ts';
import { LOCAL_POLICY_CHECKS } from '../../governance/policy-checks.ts';
import { adminTarget } from '../admin-target.ts';
import { print, printJson, printText, UsageError, type CliCommand, type CliIo } from '../io.ts';

/**
 * Policy-as-code: `validate` runs locally (no gateway needed, e.g. in CI); every other subcommand talks to the
 * admin API as the caller src/cli/admin-target.ts finds (--gateway / PORTCULLIS_GATEWAY, --key-file /
 * PORTCULLIS_TOKEN, else `portcullis login`).
 */
export const policyCommand: CliCommand = {
  summary: 'validate, diff, push, activate, roll back, inspect and simulate policy versions',
  usage: 'portcullis policy validate FILE...\n'
    + '       portcullis policy diff FILE|REF [--against REF]      (default: against the active version)\n'
    + '       portcullis policy push FILE -m MESSAGE\n'
    + '       portcullis policy activate REF [--observe]\n'
    + '       portcullis policy rollback\n'
    + '       portcullis policy history [--json]\n'
    + '       portcullis policy show [REF] [--json]                (default: active)\n'
    + '       portcullis policy simulate --version REF [--since 7d] [--limit N] [--json]\n'
    + '  REF: v3, 3, pv_… or active. Common: --gateway URL --key-file PATH',
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parse(rest, {
      message: { type: 'string', short: 'm' }, against: { type: 'string' }, observe: { type: 'boolean' }, json: { type: 'boolean' },
      version: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, gateway: { type: 'string' }, 'key-file': { type: 'string' },
    });
    if (sub === 'validate') return validate(positionals, io);
    const api = async (method: string, path: string, body?: unknown) => call(await adminTarget(io, { gateway: values.gateway, keyFile: values['key-file'] }), method, path, body);
    const out = (json: Record<string, unknown>, text: () => void): number => {
      if (values.json) printJson(io.stdout, json);
      else text();
      return 0;
    };
    switch (sub) {
      case 'push': {
        if (positionals.length !== 1) throw new UsageError('give the policy file to push');
        if (!values.message) throw new UsageError('give a message with -m (it is kept with the version)');
        const source = await readSource(io, positionals[0]!);
        const r = await api('POST', '/admin/v1/policies', { source, message: values.message });
        return out(r, () => print(io.stdout, `${r.created ? 'pushed' : 'unchanged, already stored as'} v${String(r.number)} (${String(r.id)}) sha256:${String(r.hash).slice(0, 12)}`));
      }
      case 'diff': {
        if (positionals.length !== 1) throw new UsageError('give a policy file or a version to diff');
        const against = values.against ?? 'active';
        const p = positionals[0]!;
        const body = isRef(p) ? { against: p } : { source: await readSource(io, p), label: p };
        const r = await api('POST', `/admin/v1/policies/${encodeURIComponent(against)}/diff`, body);
        return out(r, () => printText(io.stdout, typeof r.diff === 'string' && r.diff ? r.diff : 'no differences'));
      }
      case 'activate': {
        if (positionals.length !== 1) throw new UsageError('give the version to activate');
        const r = await api('POST', `/admin/v1/policies/${encodeURIComponent(positionals[0]!)}/activate`, { mode: values.observe ? 'observe' : 'enforce' });
        return out(r, () => print(io.stdout, `activated v${String(r.number)} (${String(r.id)}) in ${String(r.mode)} mode`));
      }
      case 'rollback': {
        const r = await api('POST', '/admin/v1/policies/rollback', {});
        return out(r, () => print(io.stdout, `rolled back to v${String(r.number)} (${String(r.id)}) in ${String(r.mode)} mode`));
      }
      case 'history': {
        const r = await api('GET', '/admin/v1/policies');
        return out(r, () => {
          for (const v of r.data as Record<string, unknown>[]) {
            const when = (v.activated_at as string[]).at(-1);
            print(io.stdout, `${v.active ? '*' : ' '} v${String(v.number).padEnd(4)} ${String(v.id)}  ${String(v.created_at)}  ${String(v.author).padEnd(24)} ${JSON.stringify(v.message)}${when ? `  activated ${when}` : ''}`);
          }
        });
      }
      case 'show': {
        const ref = positionals[0] ?? 'active';
        const r = await api('GET', `/admin/v1/policies/${encodeURIComponent(ref)}`);
        return out(r, () => {
          print(io.stderr, `# v${String(r.number)} ${String(r.id)} by ${String(r.author)} at ${String(r.created_at)}: ${String(r.message)}`);
          printText(io.stdout, String(r.source));
        });
      }
      case 'simulate': {
        if (!values.version) throw new UsageError('give the candidate with --version REF');
        const limit = values.limit === undefined ? undefined : Number(values.limit);
        const r = await api('POST', `/admin/v1/policies/${encodeURIComponent(values.version)}/simulate`, { since: values.since ?? '7d', limit });
        return out(r, () => printSimulation(io, r));
      }
      default:
        throw new UsageError('expected validate, diff, push, activate, rollback, history, show or simulate');
    }
  },
};

async function validate(files: string[], io: CliIo): Promise<number> {
  if (files.length === 0) throw new UsageError('give one or more policy files');
  let bad = 0;
  for (const f of files) {
    try {
      const { document } = loadPolicy(await readSource(io, f), { file: f, version: 'candidate', ...LOCAL_POLICY_CHECKS });
      print(io.stdout, `${f}: ok (${document.rules.length} rules)`);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      bad++;
      for (const i of err.issues) print(io.stderr, `${f}${i.line ? `:${i.line}` : ''}: ${i.path}: ${i.message}`);
    }
  }
  return bad === 0 ? 0 : 1;
}

function printSimulation(io: CliIo, r: Record<string, unknown>): void {
  const v = r.version as { number: number; id: string };
  const w = r.window as { since: string; until: string };
  print(io.stdout, `simulated v${v.number} (${v.id}) on ${String(r.evaluated)} exchanges ${w.since} .. ${w.until}${r.truncated ? ' (truncated)' : ''}`);
  print(io.stdout, `  unchanged: ${String(r.unchanged)}`);
  for (const [kind, c] of Object.entries(r.changes as Record<string, { count: number; examples: string[] }>)) {
    if (c.count > 0) print(io.stdout, `  ${kind.padEnd(20)} ${String(c.count).padStart(6)}   e.g. ${c.examples.join(' ')}`);
  }
  const rules = r.by_rule as { rule: string; change: string; count: number; examples: string[] }[];
  if (rules.length) print(io.stdout, 'by rule:');
  for (const b of rules) print(io.stdout, `  ${b.rule.padEnd(28)} ${b.change.padEnd(20)} ${String(b.count).padStart(6)}   e.g. ${b.examples.join(' ')}`);
  const records = (r.records ?? []) as { exchange_id: string; before: { effect: string; rules: string[] }; after: { effect: string; rules: string[] } }[];
  if (records.length) print(io.stdout, 'changed exchanges (before → after, deciding rules):');
  const side = (x: { effect: string; rules: string[] }): string => `${x.effect} [${x.rules.join(', ')}]`;
  for (const c of records) print(io.stdout, `  ${c.exchange_id}  ${side(c.before)} → ${side(c.after)}`);
}

function isRef(s: string): boolean {
  return s === 'active' || /^v?\d{1,9}$/.test(s) || /^pv_[0-9A-Z]{26}$/.test(s);
}

async function readSource(io: CliIo, file: string): Promise<string> {
  try {
    return await readFile(resolve(io.cwd, file), 'utf8');
  } catch {
    throw new UsageError(`cannot read ${file}`);
  }
}

async function call(t: { gateway: string; token: string }, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const r = await fetch(`${t.gateway}${path}`, {
    method, headers: { authorization: `Bearer ${t.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(120_000),
  });
  let json: Record<string, unknown> = {};
  try {
    json = (await r.json()) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  if (r.status >= 400) {
    const e = json.error as { message?: unknown } | undefined;
    throw new Error(typeof e?.message === 'string' ? e.message : `HTTP ${r.status}`);
  }
  return json;
}
