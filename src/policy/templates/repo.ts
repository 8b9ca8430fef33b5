import type { TemplateRecord, TemplateSpec } from './schema.ts';

/** Template storage port; SQLite and PostgreSQL implement it (src/store/{sqlite,postgres}/templates.ts). */
export interface TemplateSummary {
  id: string;
  latestVersion: number;
  description: string | null;
  updatedAt: number;
}

export interface TemplateRepo {
  /**
   * Stores a new immutable version (latest + 1). Pushing content identical to the latest version (same hash)
   * stores nothing and returns that version with `created: false`.
   */
  push(spec: TemplateSpec, hash: string, at: number, by: string): Promise<{ record: TemplateRecord; created: boolean }>;
  /** One version, or the latest when `version` is undefined. */
  get(id: string, version?: number): Promise<TemplateRecord | undefined>;
  list(): Promise<TemplateSummary[]>;
  versions(id: string): Promise<TemplateRecord[]>;
}
