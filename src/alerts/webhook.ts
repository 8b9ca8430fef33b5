import type { Firing } from './types.ts';

export interface AlertWebhook {
  url: string;
  format: 'json' | 'slack';
  headers?: Record<string, string>;
}

export interface AlertLinks {
  /** The admin API resource, for tools. */
  api: string;
  /** The console page, for people. */
  console: string;
}

/** What receivers are told: rule, subject, summary, the triggering exchange ids and the links. Never content. */
export function jsonPayload(f: Firing, links: AlertLinks): Record<string, unknown> {
  return {
    type: 'alert.fired',
    investigation: {
      id: f.id, rule_id: f.ruleId, kind: f.kind, severity: f.severity, subject: f.subject, identity: f.identity, window: f.windowKey,
      opened_at: new Date(f.openedAt).toISOString(), summary: f.summary, exchange_ids: f.exchangeIds, response: f.response,
    },
    link: links.api,
    console_link: links.console,
  };
}

/** Slack `mrkdwn` needs `&`, `<`, `>` escaped (https://api.slack.com/reference/surfaces/formatting#escaping). */
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function slackPayload(f: Firing, links: AlertLinks): Record<string, unknown> {
  const text = `Alert ${esc(f.ruleId)} (${f.severity}): ${esc(f.summary)}. <${links.console}|Investigate ${f.id}>`;
  const lines = [
    `*Alert* \`${esc(f.ruleId)}\` — severity *${f.severity}*`,
    esc(f.summary),
    f.response === 'suspend' && f.identity ? `*${esc(f.identity)}* is suspended until an administrator lifts it`
      : f.response === 'require_approval' && f.identity ? `Requests of *${esc(f.identity)}* need approval until an administrator lifts it` : 'No automatic response',
    `${f.exchangeIds.length} exchange(s) linked — <${links.console}|Investigate ${f.id}>`,
  ];
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } }] };
}

/**
 * Posts a firing to every webhook, off the evaluation path, with retries (exponential backoff from 500 ms);
 * failures are reported, never thrown. Never follows a redirect (the body and any secret header would go to a host
 * nobody configured).
 */
export function createAlertWebhooks(o: { webhooks: AlertWebhook[]; links(f: Firing): AlertLinks; attempts?: number; timeoutMs?: number; onError(e: { origin: string; attempt: number; status: number | null }): void }) {
  for (const w of o.webhooks) new URL(w.url);
  const inflight = new Set<Promise<void>>();
  const deliver = async (w: AlertWebhook, body: string): Promise<void> => {
    const attempts = o.attempts ?? 3;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let status: number | null = null;
      try {
        const r = await fetch(w.url, { method: 'POST', headers: { ...w.headers, 'content-type': 'application/json' }, body, redirect: 'error', signal: AbortSignal.timeout(o.timeoutMs ?? 5000) });
        status = r.status;
        await r.body?.cancel();
        if (r.ok) return;
      } catch {
        status = null;
      }
      o.onError({ origin: new URL(w.url).origin, attempt, status });
      if (attempt < attempts) await new Promise((r) => setTimeout(r, 500 * 2 ** (attempt - 1)));
    }
  };
  return {
    send(f: Firing): void {
      const links = o.links(f);
      for (const w of o.webhooks) {
        const p = deliver(w, JSON.stringify(w.format === 'slack' ? slackPayload(f, links) : jsonPayload(f, links))).finally(() => inflight.delete(p));
        inflight.add(p);
      }
    },
    async idle(): Promise<void> {
      await Promise.allSettled([...inflight]);
    },
  };
}
