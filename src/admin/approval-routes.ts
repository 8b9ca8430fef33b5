import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../core/errors.ts';
import type { Principal } from '../core/principal.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { Route } from '../http/route.ts';
import { APPROVAL_OUTCOMES, type ApprovalFilter, type ApprovalOutcome, type ApprovalRow } from '../approvals/repo.ts';
import type { ApprovalService } from '../approvals/service.ts';
import { APPROVAL_STATES, type ApprovalState } from '../approvals/state.ts';
import { approvalView, maySee } from '../approvals/view.ts';
import { presentedCredential } from '../proxy/headers.ts';
import { isoParam, queryOf, readJson, send, type Authenticate } from './http.ts';

export interface ApprovalRouteDeps {
  approvals: ApprovalService;
  keyring: Keyring;
  authenticate: Authenticate;
}

const LIST_DEFAULT = 100;
const LIST_MAX = 500;
/** Most approvals one list call reads to fill a page for a caller who may see few of them. */
export const LIST_SCAN_MAX = 2000;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** `before` is an approval id; its creation time is the first 10 characters after `apr_` (src/core/ids.ts). */
function cursorOf(id: string): { createdAt: number; id: string } {
  const m = /^apr_([0-9A-HJKMNP-TV-Z]{10})[0-9A-HJKMNP-TV-Z]{16}$/.exec(id);
  if (!m) throw new GatewayError('invalid_request', '`before` must be an approval id.');
  let createdAt = 0;
  for (const c of m[1]!) createdAt = createdAt * 32 + CROCKFORD.indexOf(c);
  return { createdAt, id };
}

/**
 * Up to `limit` approvals the caller may see, newest first. Visibility is per approval (view.ts), so the store is
 * read page by page and filtered until the page is full, the approvals run out, or LIST_SCAN_MAX were read.
 * `next` (the last approval read) continues the listing as `before` whenever more may follow.
 */
export async function visiblePage(
  approvals: ApprovalService, viewer: Principal, f: Omit<ApprovalFilter, 'limit'>, limit: number,
): Promise<{ rows: ApprovalRow[]; next: string | null }> {
  const pageSize = Math.min(Math.max(limit, 100), LIST_MAX);
  const rows: ApprovalRow[] = [];
  let before = f.before;
  for (let scanned = 0; ;) {
    const batch = await approvals.list({ ...f, before, limit: pageSize });
    for (const r of batch) {
      scanned++;
      before = { createdAt: r.createdAt, id: r.id };
      if (!maySee(r, viewer)) continue;
      rows.push(r);
      if (rows.length === limit) return { rows, next: r.id };
    }
    if (batch.length < pageSize) return { rows, next: null };
    if (scanned >= LIST_SCAN_MAX) return { rows, next: before?.id ?? null };
  }
}

/**
 * Approvals API (docs/approvals.md). Any authenticated caller may call it; what they get is decided per approval:
 * requesters see their own requests (no prompt), approvers the ones of their groups (prompt masked), auditors all
 * (no prompt), admins all. Deciding needs membership of an approver group and never the requester (service).
 */
export function approvalRoutes(d: ApprovalRouteDeps): Route[] {
  const who = (req: IncomingMessage): Promise<Principal> =>
    d.authenticate(presentedCredential(req.headers), { sourceIp: req.socket.remoteAddress, userAgent: req.headers['user-agent'] });
  const load = async (req: IncomingMessage, id: string) => {
    const p = await who(req);
    const row = await d.approvals.get(id);
    // Not-found and not-yours look the same: approval ids are not an oracle.
    if (!row || !maySee(row, p)) throw new GatewayError('not_found', 'No such approval.');
    return { p, row };
  };
  const decide = (verdict: 'approve' | 'deny'): Route => ({
    method: 'POST', path: `/admin/v1/approvals/:id/${verdict}`,
    async handler(req, res, params) {
      const p = await who(req);
      const b = await readJson(req);
      if (b.reason !== undefined && (typeof b.reason !== 'string' || b.reason.length > 2000)) throw new GatewayError('invalid_request', '`reason` must be a string (max 2000).');
      const row = await d.approvals.decide({ id: params.id!, actor: p, verdict, reason: typeof b.reason === 'string' ? b.reason : null });
      send(res, 200, approvalView(row, p, { votes: await d.approvals.votes(row.id), link: d.approvals.link(row.id) }));
    },
  });
  return [
    {
      method: 'GET', path: '/admin/v1/approvals',
      async handler(req, res) {
        const p = await who(req);
        const q = queryOf(req);
        const state = q.get('state') ?? undefined;
        if (state !== undefined && !APPROVAL_STATES.includes(state as ApprovalState)) throw new GatewayError('invalid_request', 'Unknown `state`.');
        const outcome = q.get('outcome') ?? undefined;
        if (outcome !== undefined && !APPROVAL_OUTCOMES.includes(outcome as ApprovalOutcome)) throw new GatewayError('invalid_request', 'Unknown `outcome`.');
        const mine = q.get('mine') === '1' || q.get('mine') === 'true';
        const limit = Math.min(Math.max(Math.trunc(Number(q.get('limit'))) || LIST_DEFAULT, 1), LIST_MAX);
        const beforeId = q.get('before');
        const page = await visiblePage(d.approvals, p, {
          state: state as ApprovalState | undefined, requester: mine ? p.subject : undefined, before: beforeId ? cursorOf(beforeId) : undefined,
          createdSince: isoParam(q, 'since'), createdUntil: isoParam(q, 'until'), model: q.get('model') || undefined, outcome: outcome as ApprovalOutcome | undefined,
        }, limit);
        send(res, 200, { data: page.rows.map((r) => approvalView(r, p, { link: d.approvals.link(r.id) })), next_before: page.next });
      },
    },
    {
      method: 'GET', path: '/admin/v1/approvals/:id',
      async handler(req, res, params) {
        const { p, row } = await load(req, params.id!);
        const [votes, events] = await Promise.all([d.approvals.votes(row.id), d.approvals.events(row.id)]);
        send(res, 200, approvalView(row, p, { keyring: d.keyring, votes, events, link: d.approvals.link(row.id) }));
      },
    },
    decide('approve'),
    decide('deny'),
  ];
}
