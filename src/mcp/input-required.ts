import { inputRequestsOf } from './modern.ts';

/** Embedded requests that reach the agent only when an `mcp:` rule names their method (docs/mcp.md, as before). */
const GOVERNED = new Set(['sampling/createMessage', 'elicitation/create']);
/** Embedded requests that pass: the client's roots, which a session-based server could ask for as well. */
const PASSED = new Set(['roots/list']);

type Allowed = (m: { method: string; params: Record<string, unknown> | undefined; raw: Record<string, unknown> }) => unknown;

/**
 * 2026-07-28 servers ask the client for sampling, elicitation or roots by answering `resultType: "input_required"`
 * with `inputRequests` (SEP-2322 multi round-trip requests), not with server requests. The gateway governs these as
 * it governs server requests: sampling and elicitation need an allowing `mcp:` rule, anything it does not know is
 * refused, and the detectors have already read the result (transform.ts). The first embedded request that may not
 * go is returned; the caller then gets a refusal instead of the result (the server keeps no state to clean up).
 */
export function deniedInputRequest(message: Record<string, unknown>, allowed: Allowed): { method: string } | undefined {
  const requests = inputRequestsOf(message);
  if (!requests) return undefined;
  for (const entry of Object.values(requests)) {
    const method = typeof entry.method === 'string' ? entry.method : '';
    if (PASSED.has(method)) continue;
    const params = typeof entry.params === 'object' && entry.params !== null ? (entry.params as Record<string, unknown>) : undefined;
    if (!GOVERNED.has(method) || !allowed({ method, params, raw: entry })) return { method: method.slice(0, 64) || '(none)' };
  }
  return undefined;
}
