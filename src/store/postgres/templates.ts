import type { TemplateRepo } from '../../policy/templates/repo.ts';
import type { TemplateRecord, TemplateSpec } from '../../policy/templates/schema.ts';
import type { Migration } from '../sqlite/migrations.ts';
import type { PostgresStore } from './index.ts';

/** Approved prompt templates on PostgreSQL: the same table as SQLite; versions are immutable rows. */
export const TEMPLATE_PG_MIGRATIONS: readonly Migration[] = [
  { id: 'templates/001-prompt-templates', sql: `
  CREATE TABLE prompt_templates (
    id TEXT NOT NULL, version INTEGER NOT NULL, description TEXT, spec_json JSONB NOT NULL, hash TEXT NOT NULL,
    created_at BIGINT NOT NULL, created_by TEXT NOT NULL,
    PRIMARY KEY (id, version)
  );
  ` },
];

type Row = Record<string, unknown>;

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

const toRecord = (r: Row): TemplateRecord => ({
  id: String(r.id), version: Number(r.version), description: text(r.description),
  spec: r.spec_json as TemplateSpec, hash: String(r.hash), createdAt: Number(r.created_at), createdBy: String(r.created_by),
});

export function postgresTemplateRepo(store: PostgresStore): TemplateRepo {
  return {
    // Replicas pushing the same id at once serialize on a transaction-scoped advisory lock keyed by the id.
    push: (spec, hash, at, by) => store.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`prompt_templates:${spec.id}`]);
      const latest = (await c.query<Row>('SELECT * FROM prompt_templates WHERE id = $1 ORDER BY version DESC LIMIT 1', [spec.id])).rows.map(toRecord)[0];
      if (latest?.hash === hash) return { record: latest, created: false };
      const version = (latest?.version ?? 0) + 1;
      await c.query(
        'INSERT INTO prompt_templates (id, version, description, spec_json, hash, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [spec.id, version, spec.description ?? null, JSON.stringify(spec), hash, at, by],
      );
      return { record: { id: spec.id, version, description: spec.description ?? null, spec, hash, createdAt: at, createdBy: by }, created: true };
    }),
    get: async (id, version) => {
      const r = version === undefined
        ? await store.query('SELECT * FROM prompt_templates WHERE id = $1 ORDER BY version DESC LIMIT 1', [id])
        : await store.query('SELECT * FROM prompt_templates WHERE id = $1 AND version = $2', [id, version]);
      return r.rows.map(toRecord)[0];
    },
    list: async () =>
      (await store.query(`SELECT DISTINCT ON (id) id, version, description, created_at FROM prompt_templates ORDER BY id, version DESC`)).rows
        .map((r) => ({ id: String(r.id), latestVersion: Number(r.version), description: text(r.description), updatedAt: Number(r.created_at) })),
    versions: async (id) => (await store.query('SELECT * FROM prompt_templates WHERE id = $1 ORDER BY version', [id])).rows.map(toRecord),
  };
}
