import type { ServerResponse } from 'node:http';
import type { Principal } from '../core/principal.ts';
import type { PipelineDeps } from './pipeline.ts';
import type { Protocol } from './protocols/types.ts';
import { sendJson } from './respond.ts';

/**
 * GET /v1/models: the models this caller may use — the exact model names of the OpenAI-family routes, filtered
 * by the guard (policy). Glob routes cannot be enumerated and are not listed.
 */
export async function listModels(o: { deps: PipelineDeps; principal: Principal; res: ServerResponse; protocol: Protocol }): Promise<void> {
  const names = o.deps.guard().filterModels(o.principal, o.deps.routes.exactModels('openai'));
  const created = Math.floor(o.deps.clock.now() / 1000);
  sendJson(o.res, 200, {
    object: 'list',
    data: names.map((id) => ({ id, object: 'model', created, owned_by: o.deps.routes.resolve(id, 'openai')?.provider ?? 'portcullis' })),
  });
}
