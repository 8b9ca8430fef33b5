/**
 * Approved prompt templates (docs/templates.md).
 *
 * Interface for the policy decider and the composition root:
 *   - `isTemplateInvocation(ctx)`: does the request name a template (header `x-portcullis-template` or
 *     `metadata.portcullis_template`)? A group limited to templates sending `false` is a free-form prompt:
 *     the decider blocks it or sends it to approval, as its rule says.
 *   - `resolver.resolveTemplate(ctx)` → undefined (free-form) | {ok: true, body, templateId, version} |
 *     {ok: false, error}. On ok the decider sets `ctx.upstreamBody = body` (and should record templateId and
 *     version in the decision), then runs content detection on the rendered body; on error it throws `error`
 *     (a native 400 naming the template and the bad variables, or evaluation_error 503 when the store fails).
 *   - `new TemplateResolver({ repo: templateRepoFor(store) })` once in main.ts (src/store/template-repo.ts).
 *   - `pushTemplate(repo, spec, {at, by})` validates and stores an immutable version (CLI and admin API).
 */
export { TEMPLATE_SCHEMA, type TemplateMessage, type TemplateParam, type TemplateParamType, type TemplateRecord, type TemplateSpec } from './schema.ts';
export { compileTemplate, TemplateError, type CompiledTemplate, type ParamValue } from './compile.ts';
export { applyRendered, isTemplateInvocation, readInvocation, TEMPLATE_HEADER, TEMPLATE_VARS_HEADER, type TemplateInvocation, type TemplateRequest } from './invocation.ts';
export type { TemplateRepo, TemplateSummary } from './repo.ts';
export { pushTemplate, TemplateResolver, type TemplateResolution } from './resolver.ts';
export { checkTemplateDocument, type TemplateIssue } from './validate.ts';
