import type { TemplateSummary } from './repo.ts';
import type { TemplateRecord } from './schema.ts';

/** A template version as the admin API and `templates show --json` show it (snake_case; the spec as authored). */
export function templateView(r: TemplateRecord): Record<string, unknown> {
  return { id: r.id, version: r.version, description: r.description, hash: r.hash, created_at: new Date(r.createdAt).toISOString(), created_by: r.createdBy, template: r.spec };
}

/** One line of the template list (admin API and `templates list --json`). */
export function templateSummaryView(t: TemplateSummary): Record<string, unknown> {
  return { id: t.id, latest_version: t.latestVersion, description: t.description, updated_at: new Date(t.updatedAt).toISOString() };
}
