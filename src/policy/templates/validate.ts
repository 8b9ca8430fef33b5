import { Ajv, type ErrorObject } from 'ajv';
import { compileTemplate, TemplateError } from './compile.ts';
import { TEMPLATE_SCHEMA, type TemplateSpec } from './schema.ts';

/** One problem in a template document, by key path (`params.ticket.pattern`, `messages[0].role`). */
export interface TemplateIssue {
  path: string;
  message: string;
}

const validateShape = new Ajv({ allErrors: true, strict: false }).compile<TemplateSpec>(TEMPLATE_SCHEMA);

function pathOf(e: ErrorObject): string {
  const base = e.instancePath.split('/').slice(1).reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
  const extra = e.keyword === 'additionalProperties' ? (e.params as { additionalProperty?: string }).additionalProperty : undefined;
  return (extra ? (base ? `${base}.${extra}` : extra) : base) || '(root)';
}

/** Validates a parsed template document (JSON Schema, then semantics); returns the spec or every issue. */
export function checkTemplateDocument(doc: unknown): { spec: TemplateSpec; issues: [] } | { spec: undefined; issues: TemplateIssue[] } {
  if (!validateShape(doc)) {
    return { spec: undefined, issues: (validateShape.errors ?? []).map((e) => ({ path: pathOf(e), message: e.keyword === 'additionalProperties' ? 'unknown key' : e.message ?? 'invalid' })) };
  }
  try {
    compileTemplate(doc);
    return { spec: doc, issues: [] };
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    return { spec: undefined, issues: err.issues.map((i) => {
      const m = /^([A-Za-z0-9_.[\]]+): (.*)$/.exec(i);
      return m ? { path: m[1]!, message: m[2]! } : { path: '(root)', message: i };
    }) };
  }
}
