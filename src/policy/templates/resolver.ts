import { createHash } from 'node:crypto';
import { GatewayError, isGatewayError } from '../../core/errors.ts';
import { compileTemplate, TemplateError, type CompiledTemplate } from './compile.ts';
import { applyRendered, readInvocation, type TemplateRequest } from './invocation.ts';
import type { TemplateRepo } from './repo.ts';
import type { TemplateRecord, TemplateSpec } from './schema.ts';

export type TemplateResolution =
  | { ok: true; body: Record<string, unknown>; templateId: string; version: number }
  | { ok: false; error: GatewayError };

/**
 * Resolves template invocations per request. Versions are immutable, so a compiled version is cached for good;
 * "latest" is looked up again after `latestTtlMs` (a push on another replica shows up within that time).
 * A store failure refuses the request (`evaluation_error`): fail closed.
 */
export class TemplateResolver {
  readonly #repo: TemplateRepo;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #compiled = new Map<string, { record: TemplateRecord; template: CompiledTemplate }>();
  readonly #latest = new Map<string, { version: number; until: number }>();

  constructor(o: { repo: TemplateRepo; latestTtlMs?: number; now?: () => number }) {
    this.#repo = o.repo;
    this.#ttl = o.latestTtlMs ?? 5_000;
    this.#now = o.now ?? Date.now;
  }

  /**
   * `undefined` for a free-form request (not a template invocation); otherwise the rendered upstream body or
   * the error to send (400 invalid_request for an unknown template or bad variables, naming what is wrong).
   */
  async resolveTemplate(req: TemplateRequest): Promise<TemplateResolution | undefined> {
    try {
      const inv = readInvocation(req);
      if (!inv) return undefined;
      const { record, template } = await this.#load(inv.id, inv.version);
      const where = `Template "${record.id}@${record.version}"`;
      let values;
      try {
        values = template.values(inv.vars);
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        return { ok: false, error: new GatewayError('invalid_request', `${where}: ${err.issues.join('; ')}.`, { details: { param: 'template_vars', template_id: record.id, version: record.version } }) };
      }
      const body = applyRendered(req, template.render(values));
      return { ok: true, body, templateId: record.id, version: record.version };
    } catch (err) {
      if (isGatewayError(err)) return { ok: false, error: err };
      return { ok: false, error: new GatewayError('evaluation_error', 'Templates are unavailable; the request was not forwarded.', { cause: err }) };
    }
  }

  async #load(id: string, version: number | undefined): Promise<{ record: TemplateRecord; template: CompiledTemplate }> {
    const now = this.#now();
    const v = version ?? this.#latest.get(id)?.version;
    const fresh = version !== undefined || (this.#latest.get(id)?.until ?? 0) > now;
    const hit = v === undefined || !fresh ? undefined : this.#compiled.get(`${id}@${v}`);
    if (hit) return hit;
    const record = await this.#repo.get(id, version);
    if (!record) throw new GatewayError('invalid_request', version === undefined ? `Unknown template "${id}".` : `Unknown template "${id}@${version}".`, { details: { param: 'template' } });
    if (version === undefined) this.#latest.set(id, { version: record.version, until: now + this.#ttl });
    const key = `${id}@${record.version}`;
    let entry = this.#compiled.get(key);
    if (!entry) {
      entry = { record, template: compileTemplate(record.spec) };
      if (this.#compiled.size >= 2_000) this.#compiled.clear();
      this.#compiled.set(key, entry);
    }
    return entry;
  }
}

/** Canonical JSON (sorted keys) so the same template always hashes the same. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Validates (throws TemplateError with every issue) and stores a new version; identical content is a no-op. */
export async function pushTemplate(repo: TemplateRepo, spec: TemplateSpec, o: { at: number; by: string }): Promise<{ record: TemplateRecord; created: boolean }> {
  compileTemplate(spec);
  const hash = createHash('sha256').update(canonical(spec)).digest('hex');
  return repo.push(spec, hash, o.at, o.by);
}
