import type { SQLOutputValue } from 'node:sqlite';
import type { TemplateRepo, TemplateSummary } from '../../policy/templates/repo.ts';
import type { TemplateRecord, TemplateSpec } from '../../policy/templates/schema.ts';
import type { SqliteCore } from './core.ts';
import type { SqliteStore } from './index.ts';
import type { Migration } from './migrations.ts';

/** Approved prompt templates (src/policy/templates): immutable versions, never updated in place. */
export const TEMPLATE_MIGRATIONS: readonly Migration[] = [
  { id: 'templates/001-prompt-templates', sql: `
  CREATE TABLE prompt_templates (
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    description TEXT,
    spec_json TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (id, version)
  );
  ` },
];

type Row = Record<string, SQLOutputValue>;

const toRecord = (r: Row): TemplateRecord => ({
  id: String(r.id), version: Number(r.version), description: r.description === null ? null : String(r.description),
  spec: JSON.parse(String(r.spec_json)) as TemplateSpec, hash: String(r.hash), createdAt: Number(r.created_at), createdBy: String(r.created_by),
});

function get(core: SqliteCore, id: string, version: number | undefined): TemplateRecord | undefined {
  const r = version === undefined
    ? core.stmt('SELECT * FROM prompt_templates WHERE id = ? ORDER BY version DESC LIMIT 1').get(id)
    : core.stmt('SELECT * FROM prompt_templates WHERE id = ? AND version = ?').get(id, version);
  return r ? toRecord(r) : undefined;
}

/** Runs in the worker: read-latest and insert happen in one transaction, so versions never collide. */
function push(core: SqliteCore, spec: TemplateSpec, hash: string, at: number, by: string): { record: TemplateRecord; created: boolean } {
  const latest = get(core, spec.id, undefined);
  if (latest?.hash === hash) return { record: latest, created: false };
  const version = (latest?.version ?? 0) + 1;
  core.stmt('INSERT INTO prompt_templates (id, version, description, spec_json, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run(spec.id, version, spec.description ?? null, JSON.stringify(spec), hash, at, by);
  return { record: { id: spec.id, version, description: spec.description ?? null, spec, hash, createdAt: at, createdBy: by }, created: true };
}

function list(core: SqliteCore): TemplateSummary[] {
  return core.stmt(`SELECT t.id, t.version, t.description, t.created_at FROM prompt_templates t
      JOIN (SELECT id, max(version) AS v FROM prompt_templates GROUP BY id) m ON t.id = m.id AND t.version = m.v ORDER BY t.id`).all()
    .map((r) => ({ id: String(r.id), latestVersion: Number(r.version), description: r.description === null ? null : String(r.description), updatedAt: Number(r.created_at) }));
}

export function templatesSqlite(core: SqliteCore): Record<string, (...args: never[]) => unknown> {
  return {
    'templates.push': (spec: TemplateSpec, hash: string, at: number, by: string) => push(core, spec, hash, at, by),
    'templates.get': (id: string, version: number | null) => get(core, id, version ?? undefined),
    'templates.list': () => list(core),
    'templates.versions': (id: string) => core.stmt('SELECT * FROM prompt_templates WHERE id = ? ORDER BY version').all(id).map(toRecord),
  };
}

export function sqliteTemplateRepo(store: SqliteStore): TemplateRepo {
  return {
    push: (spec, hash, at, by) => store.callExt('templates.push', spec, hash, at, by),
    get: (id, version) => store.callExt('templates.get', id, version ?? null),
    list: () => store.callExt('templates.list'),
    versions: (id) => store.callExt('templates.versions', id),
  };
}
