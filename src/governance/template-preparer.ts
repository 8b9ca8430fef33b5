import type { TemplateResolver } from '../policy/templates/index.ts';
import type { RequestPreparer } from './guard.ts';

/**
 * Approved prompt templates as the guard's first step: an invocation (header or metadata) is validated and
 * rendered into the upstream body, so detection and policy see the prompt the provider will receive. A bad
 * variable is a native 400 naming the template; a store failure refuses (fail closed).
 */
export function templatePreparer(resolver: TemplateResolver): RequestPreparer {
  return async (ctx) => {
    const r = await resolver.resolveTemplate(ctx);
    if (!r) return undefined;
    if (!r.ok) throw r.error;
    ctx.upstreamBody = r.body;
    return { template: { id: r.templateId, version: r.version } };
  };
}
