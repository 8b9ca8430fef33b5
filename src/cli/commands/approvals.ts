import { adminCall, adminErrorText, adminTarget } from '../admin-target.ts';
import { print, printJson, UsageError, type CliCommand } from '../io.ts';
import { parseFlags } from './login.ts';

/**
 * Approvals through the admin API, as the caller src/cli/admin-target.ts finds (PORTCULLIS_TOKEN or --key-file,
 * else the `portcullis login` token; PORTCULLIS_GATEWAY, --gateway or the stored gateway): the gateway decides
 * what they may see and decide.
 */


const txt = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

function printApproval(out: NodeJS.WritableStream, a: Record<string, unknown>): void {
  for (const k of ['id', 'state', 'rule_id', 'mode', 'scope', 'requester', 'model', 'endpoint', 'policy_version', 'approver_groups', 'quorum', 'justification', 'break_glass', 'created_at', 'expires_at', 'decided_by', 'reason', 'link']) {
    if (a[k] !== undefined) print(out, `${k.padEnd(16)} ${JSON.stringify(a[k])}`);
  }
  const findings = a.findings as { type: string; path: string | null }[] | undefined;
  if (findings?.length) print(out, `findings         ${findings.map((f) => `${f.type}@${f.path ?? '?'}`).join(', ')}`);
  for (const v of (a.votes as Record<string, unknown>[] | undefined) ?? []) print(out, `vote             ${String(v.actor)} ${String(v.verdict)} ${v.reason ? JSON.stringify(v.reason) : ''}`);
  for (const h of (a.history as Record<string, unknown>[] | undefined) ?? []) print(out, `  ${String(h.at)} ${String(h.actor).padEnd(24)} ${String(h.action)} ${h.to ? `→ ${txt(h.to)}` : ''} ${h.reason ? JSON.stringify(h.reason) : ''}`);
  if (a.request !== undefined) print(out, `request (masked) ${JSON.stringify(a.request)}`);
  if (a.request_withheld) print(out, `request          withheld: ${txt(a.request_withheld)}`);
}

export const approvalsCommand: CliCommand = {
  summary: 'list, show, approve and deny just-in-time approvals; check the status of yours',
  usage: 'portcullis approvals list [--state pending] [--mine] [--json] [--gateway URL]\n'
    + '       portcullis approvals show ID [--json]\n'
    + '       portcullis approvals approve ID [--reason TEXT]\n'
    + '       portcullis approvals deny ID --reason TEXT\n'
    + '       portcullis approvals status ID',
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parseFlags(rest, { state: { type: 'string' }, mine: { type: 'boolean' }, json: { type: 'boolean' }, reason: { type: 'string' }, 'key-file': { type: 'string' } });
    if (!['list', 'show', 'approve', 'deny', 'status'].includes(sub ?? '')) throw new UsageError('expected list, show, approve, deny or status');
    if (sub !== 'list' && positionals.length !== 1) throw new UsageError('give the approval id');
    if (sub === 'deny' && !values.reason) throw new UsageError('a denial needs --reason (the requester sees it)');
    const s = await adminTarget(io, { gateway: values.gateway, keyFile: values['key-file'] });
    const id = encodeURIComponent(positionals[0] ?? '');
    const r = sub === 'list'
      ? await adminCall(s, 'GET', `/admin/v1/approvals?${new URLSearchParams({ ...(values.state ? { state: values.state } : {}), ...(values.mine ? { mine: '1' } : {}) }).toString()}`)
      : sub === 'approve' || sub === 'deny'
        ? await adminCall(s, 'POST', `/admin/v1/approvals/${id}/${sub}`, values.reason ? { reason: values.reason } : {})
        : await adminCall(s, 'GET', `/admin/v1/approvals/${id}`);
    if (r.status !== 200) {
      print(io.stderr, `${sub} failed: ${adminErrorText(r)}`);
      return 1;
    }
    if (values.json) printJson(io.stdout, sub === 'list' ? r.json.data : r.json);
    else if (sub === 'list') {
      for (const a of r.json.data as Record<string, unknown>[]) {
        print(io.stdout, `${String(a.id)}  ${String(a.state).padEnd(9)} ${String(a.requester).padEnd(24)} ${String(a.model).padEnd(16)} rule=${String(a.rule_id)} expires=${String(a.expires_at)}`);
      }
    } else if (sub === 'status') print(io.stdout, `${String(r.json.id)} ${String(r.json.state)}${r.json.reason ? ` (${txt(r.json.reason)})` : ''}`);
    else if (sub === 'approve' || sub === 'deny') print(io.stdout, `${String(r.json.id)} ${String(r.json.state)} (your ${sub === 'approve' ? 'approval' : 'denial'} was recorded)`);
    else printApproval(io.stdout, r.json);
    return 0;
  },
};
