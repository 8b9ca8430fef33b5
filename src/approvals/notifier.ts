import type { ApprovalRow } from './repo.ts';
import type { ApprovalLinks, ApprovalNotifier } from './service.ts';

export interface WebhookTarget {
  url: string;
  /** `json`: Portcullis' own payload; `slack`: a Slack-compatible incoming-webhook message (`text` + `blocks`). */
  format: 'json' | 'slack';
  headers?: Record<string, string>;
}

export interface WebhookNotifierOptions {
  webhooks: WebhookTarget[];
  timeoutMs?: number;
  /** Attempts per webhook (exponential backoff from 500 ms). */
  attempts?: number;
  /** Delivery failures (never the payload or URL query): for metrics/logs. */
  onError?: (e: { url: string; attempt: number; status: number | null }) => void;
}

/**
 * What approvers are told: who, which model, which rule, the links (`link`: the admin API resource, for tools;
 * `console_link`: the console page, for people). Never the prompt, never a finding's value.
 */
export function jsonPayload(row: ApprovalRow, links: ApprovalLinks): Record<string, unknown> {
  return {
    type: 'approval.requested',
    approval: {
      id: row.id, state: row.state, rule_id: row.ruleId, mode: row.mode, scope: row.scope, requester: row.requester,
      requester_name: row.requesterName, model: row.model, endpoint: row.endpoint, policy_version: row.policyVersion,
      justification: row.justification, approver_groups: row.approverGroups, quorum: row.eachGroup ? 'each_group' : row.quorum,
      expires_at: new Date(row.expiresAt).toISOString(), findings: row.findings.map((f) => f.type),
    },
    link: links.api,
    console_link: links.console,
  };
}

/** Slack `mrkdwn` needs `&`, `<`, `>` escaped (https://api.slack.com/reference/surfaces/formatting#escaping). */
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A person clicks the link in Slack: it opens the approval in the console. */
export function slackPayload(row: ApprovalRow, links: ApprovalLinks): Record<string, unknown> {
  const link = links.console;
  const types = [...new Set(row.findings.map((f) => String(f.type)))];
  const text = `Approval needed: ${esc(row.requesterName)} (${esc(row.requester)}) → ${esc(row.model)} — rule ${esc(row.ruleId)}. <${link}|Review ${row.id}>`;
  const lines = [
    `*Approval needed* for *${esc(row.requesterName)}* (${esc(row.requester)})`,
    `Model: \`${esc(row.model)}\`  Rule: \`${esc(row.ruleId)}\`  Policy: \`${esc(row.policyVersion ?? '-')}\``,
    row.justification ? `Justification: ${esc(row.justification)}` : 'No justification given',
    types.length ? `Findings: ${types.map(esc).join(', ')}` : 'No findings',
    `Expires ${new Date(row.expiresAt).toISOString()} — <${link}|Review ${row.id}>`,
  ];
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } }] };
}

/** Posts to every configured webhook, off the request path, with retries; failures are reported, never thrown. */
export function createWebhookNotifier(o: WebhookNotifierOptions): ApprovalNotifier & { idle(): Promise<void> } {
  for (const w of o.webhooks) new URL(w.url);
  const inflight = new Set<Promise<void>>();
  const deliver = async (w: WebhookTarget, body: string): Promise<void> => {
    const attempts = o.attempts ?? 3;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let status: number | null = null;
      try {
        const r = await fetch(w.url, {
          // Never follow a redirect: the body and any secret header would go to a host nobody configured.
          method: 'POST', headers: { ...w.headers, 'content-type': 'application/json' }, body, redirect: 'error', signal: AbortSignal.timeout(o.timeoutMs ?? 5000),
        });
        status = r.status;
        await r.body?.cancel();
        if (r.ok) return;
      } catch {
        status = null;
      }
      o.onError?.({ url: new URL(w.url).origin, attempt, status });
      if (attempt < attempts) await new Promise((r) => setTimeout(r, 500 * 2 ** (attempt - 1)));
    }
  };
  return {
    requested(row, links) {
      for (const w of o.webhooks) {
        const body = JSON.stringify(w.format === 'slack' ? slackPayload(row, links) : jsonPayload(row, links));
        const p = deliver(w, body).finally(() => inflight.delete(p));
        inflight.add(p);
      }
    },
    async idle() {
      await Promise.allSettled([...inflight]);
    },
  };
}
