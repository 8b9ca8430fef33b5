import type { IncomingMessage } from 'node:http';
import type { Clock } from '../core/clock.ts';
import { GatewayError } from '../core/errors.ts';
import type { Route } from '../http/route.ts';
import type { TemplateRepo } from '../policy/templates/repo.ts';
import { pushTemplate } from '../policy/templates/resolver.ts';
import { checkTemplateDocument } from '../policy/templates/validate.ts';
import { templateSummaryView, templateView } from '../policy/templates/view.ts';
import { readJson, requireRole, send, type Authenticate } from './http.ts';

export interface TemplateRouteDeps {
  templates: TemplateRepo;
  clock: Clock;
  authenticate: Authenticate;
}

const READERS = ['admin', 'policy-author', 'auditor', 'approver', 'user'] as const;

/**
 * Prompt templates (docs/templates.md). Reading is open to every role (clients need the parameters to call a
 * template); pushing a version needs admin or policy-author. Versions are immutable: there is no update or delete.
 */
export function templateRoutes(d: TemplateRouteDeps): Route[] {
  const auth = (req: IncomingMessage, roles: Parameters<typeof requireRole>[2]) => requireRole(d.authenticate, req, roles);
  const version = (v: string): number => {
    if (!/^[1-9][0-9]{0,8}$/.test(v)) throw new GatewayError('invalid_request', 'A version is a positive integer.');
    return Number(v);
  };
  return [
    {
      method: 'GET', path: '/admin/v1/templates',
      async handler(req, res) {
        await auth(req, READERS);
        const rows = await d.templates.list();
        send(res, 200, { data: rows.map(templateSummaryView) });
      },
    },
    {
      method: 'POST', path: '/admin/v1/templates',
      async handler(req, res) {
        const p = await auth(req, ['admin', 'policy-author']);
        const checked = checkTemplateDocument(await readJson(req));
        if (!checked.spec) {
          throw new GatewayError('invalid_request', `Invalid template: ${checked.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { details: { issues: checked.issues } });
        }
        const { record, created } = await pushTemplate(d.templates, checked.spec, { at: d.clock.now(), by: p.subject });
        send(res, created ? 201 : 200, { ...templateView(record), created });
      },
    },
    {
      method: 'GET', path: '/admin/v1/templates/:id',
      async handler(req, res, params) {
        await auth(req, READERS);
        const r = await d.templates.get(params.id!);
        if (!r) throw new GatewayError('not_found', 'No such template.');
        send(res, 200, { ...templateView(r), versions: (await d.templates.versions(r.id)).map((v) => ({ version: v.version, hash: v.hash, created_at: new Date(v.createdAt).toISOString(), created_by: v.createdBy })) });
      },
    },
    {
      method: 'GET', path: '/admin/v1/templates/:id/versions/:version',
      async handler(req, res, params) {
        await auth(req, READERS);
        const r = await d.templates.get(params.id!, version(params.version!));
        if (!r) throw new GatewayError('not_found', 'No such template version.');
        send(res, 200, templateView(r));
      },
    },
  ];
}
