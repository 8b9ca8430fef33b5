import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { lineOf } from '../../config/loader.ts';
import { pushTemplate } from '../../policy/templates/resolver.ts';
import type { TemplateRecord } from '../../policy/templates/schema.ts';
import { checkTemplateDocument } from '../../policy/templates/validate.ts';
import { templateSummaryView, templateView } from '../../policy/templates/view.ts';
import { templateRepoFor } from '../../store/template-repo.ts';
import { chainedCliChange } from '../audited.ts';
import { openStoreSession, parse } from '../context.ts';
import { print, printJson, UsageError, type CliCommand } from '../io.ts';

/** `portcullis templates push FILE | list | show ID[@VERSION]` — on the configured store, like `exchanges`. */
export const templatesCommand: CliCommand = {
  summary: 'push, list and show approved prompt templates',
  usage: 'portcullis templates push FILE [--author NAME] [--json] [--config FILE]\n       portcullis templates list [--json] [--config FILE]\n       portcullis templates show ID[@VERSION] [--json] [--config FILE]',
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parse(rest, { json: { type: 'boolean' }, author: { type: 'string' } });
    if (sub !== 'push' && sub !== 'list' && sub !== 'show') throw new UsageError('expected push, list or show');
    if (sub !== 'list' && positionals.length !== 1) throw new UsageError(sub === 'push' ? 'give the template file' : 'give the template id');
    let spec;
    if (sub === 'push') {
      const file = resolve(io.cwd, positionals[0]!);
      const text = await readFile(file, 'utf8');
      const lc = new LineCounter();
      const doc = parseDocument(text, { lineCounter: lc });
      if (doc.errors.length > 0) {
        for (const e of doc.errors) print(io.stderr, `${positionals[0]}:${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0]}`);
        return 1;
      }
      const checked = checkTemplateDocument(doc.toJS());
      if (!checked.spec) {
        for (const i of checked.issues) print(io.stderr, `${positionals[0]}:${lineOf(doc, lc, i.path) ?? '?'}: ${i.path}: ${i.message}`);
        return 1;
      }
      spec = checked.spec;
    }
    const s = await openStoreSession(values.config, io);
    try {
      const repo = templateRepoFor(s.store);
      if (spec) {
        const pushed = spec;
        const { record, created } = await chainedCliChange(s, { action: 'templates.push', target: null }, async () => {
          const r = await pushTemplate(repo, pushed, { at: Date.now(), by: values.author ?? `cli:${io.env.USER ?? 'unknown'}` });
          return { value: r, made: true, target: r.record.id, details: { created: r.created, hash: r.record.hash, version: r.record.version } };
        });
        if (values.json) printJson(io.stdout, { id: record.id, version: record.version, hash: record.hash, created });
        else print(io.stdout, created ? `pushed ${record.id}@${record.version}` : `unchanged: ${record.id}@${record.version} has the same content`);
        return 0;
      }
      if (sub === 'list') {
        const rows = await repo.list();
        if (values.json) printJson(io.stdout, rows.map(templateSummaryView));
        else for (const t of rows) print(io.stdout, `${t.id.padEnd(32)} v${String(t.latestVersion).padEnd(5)} ${new Date(t.updatedAt).toISOString()}  ${t.description ?? ''}`);
        return 0;
      }
      const [id, v] = positionals[0]!.split('@');
      const r = await repo.get(id!, v === undefined ? undefined : Number(v));
      if (!r) {
        print(io.stderr, `no template ${positionals[0]}`);
        return 1;
      }
      if (values.json) printJson(io.stdout, templateView(r));
      else printHuman(io.stdout, r);
      return 0;
    } finally {
      await s.close();
    }
  },
};

function printHuman(out: NodeJS.WritableStream, r: TemplateRecord): void {
  print(out, `${r.id}@${r.version}  ${r.description ?? ''}`, `  pushed ${new Date(r.createdAt).toISOString()} by ${r.createdBy}  sha256 ${r.hash}`);
  for (const [name, p] of Object.entries(r.spec.params ?? {})) {
    const req = p.required ?? p.default === undefined;
    print(out, `  {{${name}}}  ${p.type}${p.type === 'enum' ? ` (${(p.values ?? []).join('|')})` : ''}${req ? ' required' : ''}${p.default !== undefined ? ` default=${JSON.stringify(p.default)}` : ''}${p.pattern ? ` pattern=${p.pattern}` : ''}${p.max_length ? ` max_length=${p.max_length}` : ''}`);
  }
  if (r.spec.system !== undefined) print(out, `  system: ${JSON.stringify(r.spec.system)}`);
  for (const m of r.spec.messages) print(out, `  ${m.role}: ${JSON.stringify(m.content)}`);
}
