import { adminCall, adminErrorText, adminTarget } from '../admin-target.ts';
import { print, printJson, UsageError, type CliCommand, type CliIo } from '../io.ts';
import { parseFlags } from './login.ts';

/**
 * Investigations opened by alert rules, and the suspensions they set (docs/alerts.md), through the admin API as
 * src/cli/admin-target.ts finds it. Every value is printed through io.ts (control characters escaped): subjects,
 * notes and resolutions come from people and clients.
 */

const str = (v: unknown): string => (typeof v === 'string' ? v : v === null || v === undefined ? '-' : JSON.stringify(v));

function failed(io: CliIo, what: string, r: { status: number; json: Record<string, unknown> }): number {
  print(io.stderr, `${what} failed: ${adminErrorText(r)}`);
  return 1;
}

function printInvestigation(out: NodeJS.WritableStream, i: Record<string, unknown>): void {
  for (const k of ['id', 'state', 'severity', 'rule_id', 'kind', 'subject', 'identity', 'summary', 'opened_at', 'response', 'suspended', 'assignee', 'closed_at', 'closed_by', 'resolution']) {
    if (i[k] !== undefined) print(out, `${k.padEnd(11)} ${str(i[k])}`);
  }
  for (const x of (i.exchanges as Record<string, unknown>[] | undefined) ?? []) print(out, `exchange    ${str(x.id)} ${str(x.started_at)} ${str(x.status)} ${str(x.error_code)} ${str(x.model)}`);
  for (const n of (i.notes as Record<string, unknown>[] | undefined) ?? []) print(out, `note        ${str(n.at)} ${str(n.author)}: ${str(n.text)}`);
}

export const investigationsCommand: CliCommand = {
  summary: 'list, show, assign, annotate and close investigations opened by alert rules',
  usage: 'portcullis investigations list [--state open|assigned|closed] [--identity SUBJECT] [--json]\n'
    + '       portcullis investigations show ID [--json]\n'
    + '       portcullis investigations assign ID [--to SUBJECT]\n'
    + '       portcullis investigations note ID --text TEXT\n'
    + '       portcullis investigations close ID --resolution TEXT',
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parseFlags(rest, {
      state: { type: 'string' }, identity: { type: 'string' }, json: { type: 'boolean' }, to: { type: 'string' }, text: { type: 'string' }, resolution: { type: 'string' }, 'key-file': { type: 'string' },
    });
    if (!['list', 'show', 'assign', 'note', 'close'].includes(sub ?? '')) throw new UsageError('expected list, show, assign, note or close');
    if (sub !== 'list' && positionals.length !== 1) throw new UsageError('give the investigation id');
    if (sub === 'note' && !values.text) throw new UsageError('a note needs --text');
    if (sub === 'close' && !values.resolution) throw new UsageError('closing needs --resolution');
    const s = await adminTarget(io, { gateway: values.gateway, keyFile: values['key-file'] });
    const id = encodeURIComponent(positionals[0] ?? '');
    const query = new URLSearchParams({ ...(values.state ? { state: values.state } : {}), ...(values.identity ? { identity: values.identity } : {}) });
    const r = sub === 'list' ? await adminCall(s, 'GET', `/admin/v1/investigations?${query.toString()}`)
      : sub === 'show' ? await adminCall(s, 'GET', `/admin/v1/investigations/${id}`)
        : sub === 'assign' ? await adminCall(s, 'POST', `/admin/v1/investigations/${id}/assign`, values.to ? { assignee: values.to } : {})
          : sub === 'note' ? await adminCall(s, 'POST', `/admin/v1/investigations/${id}/notes`, { text: values.text })
            : await adminCall(s, 'POST', `/admin/v1/investigations/${id}/close`, { resolution: values.resolution });
    if (r.status !== 200) return failed(io, sub!, r);
    if (values.json) printJson(io.stdout, sub === 'list' ? r.json.data : r.json);
    else if (sub === 'list') {
      const rows = r.json.data as Record<string, unknown>[];
      if (rows.length === 0) print(io.stdout, 'no investigations');
      for (const i of rows) print(io.stdout, `${str(i.id)}  ${str(i.state).padEnd(8)} ${str(i.severity).padEnd(8)} ${str(i.rule_id).padEnd(20)} ${str(i.summary)}`);
    } else printInvestigation(io.stdout, r.json);
    return 0;
  },
};

export const suspensionsCommand: CliCommand = {
  summary: 'list identities suspended by alert rules; lift a suspension',
  usage: 'portcullis suspensions list [--json]\n       portcullis suspensions lift SUBJECT',
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parseFlags(rest, { json: { type: 'boolean' }, 'key-file': { type: 'string' } });
    if (sub !== 'list' && sub !== 'lift') throw new UsageError('expected list or lift');
    if (sub === 'lift' && positionals.length !== 1) throw new UsageError('give the suspended subject, e.g. user:alice');
    const s = await adminTarget(io, { gateway: values.gateway, keyFile: values['key-file'] });
    const r = sub === 'list' ? await adminCall(s, 'GET', '/admin/v1/suspensions') : await adminCall(s, 'POST', '/admin/v1/suspensions/lift', { identity: positionals[0] });
    if (r.status !== 200) return failed(io, sub, r);
    if (values.json) printJson(io.stdout, sub === 'list' ? r.json.data : r.json);
    else if (sub === 'lift') print(io.stdout, `${str(r.json.identity)} is no longer suspended nor held for approval`);
    else {
      const rows = r.json.data as Record<string, unknown>[];
      if (rows.length === 0) print(io.stdout, 'nobody is suspended');
      for (const x of rows) print(io.stdout, `${str(x.identity).padEnd(32)} ${x.mode === 'require_approval' ? `needs approval (${(x.approvers as unknown[]).map(str).join(', ')})` : 'suspended'} since ${str(x.since)} investigation ${str(x.investigation_id)}`);
    }
    return 0;
  },
};
