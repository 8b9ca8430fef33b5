// @ts-check
import { adminView } from './admin.js';
import { changesView, decisionView, Hidden, recordedBodies } from './evidence.js';
import { replayView } from './replay.js';
import { usageView } from './usage.js';
import { investigationsView, investigationView } from './investigations.js';

/**
 * Portcullis web console (docs/console.md). A thin client of the admin API: every view is one or two API calls
 * made with the signed-in person's own credential, so it can show and do exactly what that person may through the
 * API — nothing more. Data is only ever set as text (never parsed as HTML), and the page's CSP allows no inline
 * or foreign script. The credential stays in this tab's sessionStorage and only travels in the Authorization
 * header to this origin.
 */

const TOKEN_KEY = 'portcullis.console.token';
const STATES = ['pending', 'approved', 'denied', 'expired', 'cancelled', 'executed'];
const EXCHANGE_STATUSES = ['completed', 'rejected', 'upstream_error', 'client_aborted', 'incomplete', 'failed', 'in_progress'];

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const nav = /** @type {HTMLElement} */ (document.getElementById('nav'));
const who = /** @type {HTMLElement} */ (document.getElementById('who'));

/** @typedef {Record<string, unknown>} Json */
/** @typedef {Node | string | number | null | undefined | false} Child */

/**
 * Builds an element. Attributes are set as attributes, `on<event>` entries as listeners; children are nodes or
 * text (a string child becomes a text node: data from the API can never become markup).
 * @param {string} tag
 * @param {Record<string, string | EventListener>} [attrs]
 * @param {...Child} children
 * @returns {HTMLElement}
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

/** @param {unknown} v */
const text = (v) => (v === null || v === undefined ? '—' : typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));
/** @param {string} kind @param {unknown} id */
const link = (kind, id) => h('a', { href: `#/${kind}/${encodeURIComponent(String(id))}` }, String(id));
/** @param {unknown} v @returns {Json} */
const obj = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? /** @type {Json} */ (v) : {});
/** @param {unknown} v @returns {Json[]} */
const list = (v) => (Array.isArray(v) ? v.map(obj) : []);
/** @param {unknown} v */
const pre = (v) => h('pre', {}, typeof v === 'string' ? v : JSON.stringify(v, null, 2));

class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * One admin API call with the signed-in credential; a 401 signs out (expired or revoked credential), except
 * while signing in, where it only means the credential was not accepted. `accept` lists other statuses whose body
 * is the answer (GET /admin/v1/events/health answers 503 with the health of a sink that is behind).
 * @param {string} path
 * @param {{ method?: string, body?: unknown, signingIn?: boolean, accept?: number[] }} [o]
 * @returns {Promise<Json>}
 */
async function api(path, o = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method: o.method ?? 'GET', headers, cache: 'no-store', body: o.body === undefined ? undefined : JSON.stringify(o.body) });
  const raw = await res.text();
  /** @type {Json} */
  let body = {};
  try {
    const parsed = /** @type {unknown} */ (raw ? JSON.parse(raw) : {});
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = /** @type {Json} */ (parsed);
  } catch {
    body = {};
  }
  if (res.status === 401) {
    if (o.signingIn) throw new ApiError(401, 'unauthenticated', 'This key or token was not accepted');
    signOut('Your credential was not accepted (expired or revoked). Sign in again.');
    throw new ApiError(401, 'unauthenticated', 'signed out');
  }
  if (!res.ok && !(o.accept ?? []).includes(res.status)) {
    const e = obj(body.error);
    throw new ApiError(res.status, typeof e.code === 'string' ? e.code : 'error', typeof e.message === 'string' ? e.message : `HTTP ${res.status}`);
  }
  return body;
}

/** @param {string} [message] */
function signOut(message) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  // A session token from single sign-on is revoked (RFC 7009); for a key this changes nothing.
  if (token && !message) void fetch('/auth/revoke', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }) }).catch(() => undefined);
  sessionStorage.removeItem(TOKEN_KEY);
  location.hash = '#/login';
  if (message) sessionStorage.setItem('portcullis.console.notice', message);
}

/** @param {unknown} err */
function errorView(err) {
  const e = /** @type {Error & { code?: string, status?: number }} */ (err);
  return h('p', { class: 'error', role: 'alert' }, e.code ? `${e.message} (${e.code})` : 'Something went wrong; see the browser console.');
}

/** @param {Json} record @param {string[]} keys */
function facts(record, keys) {
  const dl = h('dl', { class: 'facts' });
  for (const k of keys) if (k in record) dl.append(h('dt', {}, k.replaceAll('_', ' ')), h('dd', {}, text(record[k])));
  return dl;
}

/** @param {string[]} head @param {Child[][]} rows @param {string} empty */
function table(head, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  // In a box of its own that scrolls sideways: a wide table never makes the page scroll in a narrow window.
  return h('div', { class: 'table-wrap' },
    h('table', {}, h('thead', {}, h('tr', {}, ...head.map((x) => h('th', {}, x)))), h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c)))))));
}

// ── views ────────────────────────────────────────────────────────────────────────────────────────────────────────

const SSO_KEY = 'portcullis.console.sso';

/** @param {Uint8Array} bytes */
const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
const randomB64url = (n = 32) => b64url(crypto.getRandomValues(new Uint8Array(n)));

/**
 * Single sign-on: the gateway's own login flow (as `portcullis login` uses it) with this page as the hand-off
 * target. PKCE verifier and state stay in this tab; the gateway redirects back with a one-time code bound to the
 * challenge, which only this tab can redeem.
 * @param {string} loginPath
 */
async function startSso(loginPath) {
  const verifier = randomB64url();
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const state = randomB64url(16);
  sessionStorage.setItem(SSO_KEY, JSON.stringify({ verifier, state, hash: location.hash }));
  const q = new URLSearchParams({ cli_redirect: `${location.origin}${location.pathname}`, cli_challenge: challenge, cli_state: state });
  location.assign(`${loginPath}?${q.toString()}`);
}

/** Back from the identity provider with `?code=…&state=…` (or `?error=…`): redeem the code, then clean the URL. */
async function finishSso() {
  const q = new URLSearchParams(location.search);
  const saved = obj(JSON.parse(sessionStorage.getItem(SSO_KEY) ?? '{}'));
  sessionStorage.removeItem(SSO_KEY);
  const back = typeof saved.hash === 'string' && saved.hash && !saved.hash.startsWith('#/login') ? saved.hash : '#/approvals';
  history.replaceState(null, '', `${location.pathname}${back}`);
  // A code this tab did not ask for (login CSRF: someone else's sign-in pushed into this tab) is never redeemed.
  if (!saved.state || q.get('state') !== saved.state) throw new ApiError(400, 'sso_state_mismatch', 'This sign-in was not started here; start it again');
  if (q.get('error')) throw new ApiError(401, String(q.get('error')), 'Sign-in failed at the identity provider');
  const res = await fetch('/auth/token', {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, cache: 'no-store',
    body: new URLSearchParams({ grant_type: 'authorization_code', code: String(q.get('code')), code_verifier: String(saved.verifier) }),
  });
  const body = obj(await res.json().catch(() => ({})));
  if (!res.ok || typeof body.access_token !== 'string') throw new ApiError(res.status, typeof body.error === 'string' ? body.error : 'error', typeof body.error_description === 'string' ? body.error_description : 'Sign-in failed');
  // Only the access token is kept: when it expires the tab signs in again (the IdP session makes that quick).
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
}

function loginView() {
  const notice = sessionStorage.getItem('portcullis.console.notice');
  sessionStorage.removeItem('portcullis.console.notice');
  const input = /** @type {HTMLInputElement} */ (h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: '', size: '60' }));
  const status = h('p', { role: 'status' }, notice ?? '');
  if (notice) status.className = 'error';
  /** @param {Event} e */
  const submit = async (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = '';
    try {
      await api('/admin/v1/whoami', { signingIn: true });
      // Back to the page asked for (a deep link from a notification), or to the approvals.
      if (!location.hash || location.hash === '#/login') location.hash = '#/approvals';
      else await render();
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      status.replaceChildren(errorView(err));
    }
  };
  const sso = h('div', { class: 'sso' });
  void fetch('/auth/providers', { cache: 'no-store' }).then((r) => r.json()).then((/** @type {unknown} */ p) => {
    const providers = [...list(obj(p).oidc), ...list(obj(p).saml)];
    if (providers.length === 0 || !crypto.subtle) return;
    sso.append(...providers.map((x) => h('button', { type: 'button', class: 'sso-login', onclick: () => void startSso(String(x.login)) }, `Sign in with ${text(x.name)}`)));
  }).catch(() => undefined);
  return h('section', {},
    h('h1', {}, 'Sign in'),
    sso,
    h('p', {}, 'Or paste a Portcullis key or a token from ', h('code', {}, 'portcullis login'), '. It is kept in this tab only and sent only to this gateway.'),
    h('form', { onsubmit: (e) => void submit(e), class: 'filters' }, h('label', { for: 'token' }, 'Key or token', input), h('button', { type: 'submit' }, 'Sign in')),
    status);
}

/** @param {URLSearchParams} q */
async function approvalsView(q) {
  const state = q.get('state') ?? 'pending';
  // A usage tile links here with the range and model it counted (requested in [since, until), docs/analytics.md#approvals).
  const scope = new URLSearchParams();
  for (const k of ['outcome', 'since', 'until', 'model']) if (q.get(k)) scope.set(k, /** @type {string} */ (q.get(k)));
  const select = /** @type {HTMLSelectElement} */ (h('select', { name: 'state', onchange: () => (location.hash = `#/approvals?${new URLSearchParams({ state: select.value, ...Object.fromEntries(scope) }).toString()}`) },
    ...['all', ...STATES].map((s) => h('option', s === state ? { value: s, selected: '' } : { value: s }, s))));
  const filter = new URLSearchParams({ limit: '100', ...(state === 'all' ? {} : { state }), ...Object.fromEntries(scope) });
  const rows = list((await api(`/admin/v1/approvals?${filter.toString()}`)).data);
  const scoped = scope.size > 0
    ? h('p', { class: 'muted', id: 'approvals-scope' }, `${scope.get('outcome') ? `Ended ${scope.get('outcome')}, requested ` : 'Requested '}${scope.get('since') ? `from ${scope.get('since')} ` : ''}${scope.get('until') ? `until ${scope.get('until')} ` : ''}${scope.get('model') ? `for model ${scope.get('model')} ` : ''}`,
      h('a', { href: `#/approvals?state=${encodeURIComponent(state)}` }, 'show all'))
    : null;
  return h('section', {},
    h('h1', {}, 'Approvals'),
    h('form', { class: 'filters' }, h('label', {}, 'State', select)), scoped,
    table(['approval', 'state', 'requester', 'model', 'rule', 'requested', 'expires'],
      rows.map((a) => [link('approvals', a.id), h('span', { class: 'state' }, text(a.state)), text(a.requester_name ?? a.requester), text(a.model), text(a.rule_id), text(a.created_at), text(a.expires_at)]),
      state === 'pending' ? 'Nothing is waiting for a decision you can make.' : 'No approvals.'));
}

/** @param {string} id */
async function approvalView(id) {
  const a = await api(`/admin/v1/approvals/${encodeURIComponent(id)}`);
  const section = h('section', {}, h('h1', {}, 'Approval ', h('code', {}, text(a.id)), ' — ', h('span', { class: 'state', id: 'approval-state' }, text(a.state))));
  section.append(facts(a, ['requester', 'requester_name', 'requester_groups', 'endpoint', 'model', 'rule_id', 'mode', 'scope', 'approver_groups', 'quorum', 'window_seconds',
    'justification', 'break_glass', 'policy_version', 'exchange_id', 'created_at', 'expires_at', 'decided_at', 'decided_by', 'reason']));
  section.append(h('h2', {}, 'Findings'), table(['type', 'where', 'action'], list(a.findings).map((f) => [text(f.type), text(f.path), text(f.action)]), 'None.'));
  if (a.request !== undefined) section.append(h('h2', {}, 'Held request (findings masked)'), pre(a.request));
  else if (a.request_withheld) section.append(h('h2', {}, 'Held request'), h('p', { class: 'muted' }, `Withheld: ${text(a.request_withheld)}`));
  if (a.state === 'pending') section.append(decideForm(a));
  if (a.votes) section.append(h('h2', {}, 'Votes'), table(['who', 'verdict', 'groups', 'reason', 'at'], list(a.votes).map((v) => [text(v.actor), text(v.verdict), text(v.groups), text(v.reason), text(v.at)]), 'No votes yet.'));
  if (a.history) section.append(h('h2', {}, 'History'), table(['at', 'who', 'what', 'to', 'reason'], list(a.history).map((e) => [text(e.at), text(e.actor), text(e.action), text(e.to), text(e.reason)]), 'No history.'));
  return section;
}

/** @param {Json} a */
function decideForm(a) {
  const reason = /** @type {HTMLTextAreaElement} */ (h('textarea', { name: 'reason', maxlength: '2000', placeholder: 'Why' }));
  const status = h('p', { role: 'status' });
  /** @param {'approve' | 'deny'} verdict */
  const decide = async (verdict) => {
    try {
      await api(`/admin/v1/approvals/${encodeURIComponent(String(a.id))}/${verdict}`, { method: 'POST', body: reason.value ? { reason: reason.value } : {} });
      await render();
    } catch (err) {
      status.replaceChildren(errorView(err));
    }
  };
  return h('div', { class: 'decide' },
    h('h2', {}, 'Decide'),
    h('label', {}, 'Reason (recorded in the audit trail)', reason),
    h('div', { class: 'buttons' },
      h('button', { type: 'button', class: 'approve', onclick: () => void decide('approve') }, 'Approve'),
      h('button', { type: 'button', class: 'deny', onclick: () => void decide('deny') }, 'Deny')),
    status);
}

/**
 * The filters a dashboard number links with that the form below has no field for, and how the page says them
 * (docs/console.md#usage): a group, client tool, finding type, refusal code, or several statuses at once (Errors).
 */
const LINKED_FILTERS = /** @type {const} */ ([['group', 'group'], ['client_tool', 'client tool'], ['finding_type', 'finding type'], ['error_code', 'refusal code'], ['status', 'status']]);

/**
 * The active linked filters as a line with a link that clears them (the time range and the form's fields stay).
 * @param {URLSearchParams} q
 */
function linkedFilterLine(q) {
  /** @param {string} k */
  const linked = (k) => Boolean(q.get(k)) && (k !== 'status' || (q.get('status') ?? '').includes(','));
  const active = LINKED_FILTERS.filter(([k]) => linked(k));
  if (active.length === 0) return null;
  const rest = new URLSearchParams(q);
  for (const [k] of active) rest.delete(k);
  return h('p', { class: 'muted', id: 'exchanges-filter' },
    `Filtered by ${active.map(([k, label]) => `${label} ${(q.get(k) ?? '').split(',').join(' or ')}`).join(', ')}. `,
    h('a', { href: `#/exchanges?${rest.toString()}`, id: 'exchanges-filter-clear' }, 'Clear filter'));
}

/** @param {URLSearchParams} q */
async function exchangesView(q) {
  const filters = ['subject', 'model', 'status'];
  const params = new URLSearchParams({ limit: '100' });
  // A dashboard number links here with its time range (since/until) and filters: kept, and said, so the list is the number's.
  for (const f of [...filters, 'since', 'until', ...LINKED_FILTERS.map(([k]) => k)]) if (q.get(f)) params.set(f, /** @type {string} */ (q.get(f)));
  const rows = list((await api(`/admin/v1/exchanges?${params.toString()}`)).data);
  const range = q.get('since') && q.get('until') ? h('p', { class: 'muted', id: 'exchanges-range' }, `Started from ${q.get('since')} until ${q.get('until')}. `, h('a', { href: '#/exchanges' }, 'Any time')) : null;
  // Status is a closed list; `rejected` is what policy refused (the violations), `failed` what the gateway could not do.
  const status = /** @type {HTMLSelectElement} */ (h('select', { name: 'status' },
    ...['', ...EXCHANGE_STATUSES].map((v) => h('option', v === (q.get('status') ?? '') ? { value: v, selected: '' } : { value: v }, v || 'any'))));
  const inputs = [...filters.slice(0, 2).map((f) => /** @type {HTMLInputElement} */ (h('input', { name: f, value: q.get(f) ?? '' }))), status];
  /** @param {Event} e */
  const apply = (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    inputs.forEach((i) => i.value.trim() && next.set(i.name, i.value.trim()));
    location.hash = `#/exchanges?${next.toString()}`;
  };
  const exportStatus = h('span', { role: 'status', id: 'export-status' });
  /** @param {'csv' | 'jsonl'} format */
  const exportButton = (format) => h('button', { type: 'button', id: `export-${format}`, onclick: () => void exportList(params, format, exportStatus) }, `Export ${format.toUpperCase()}`);
  return h('section', {},
    h('h1', {}, 'Exchanges'),
    range,
    linkedFilterLine(q),
    h('form', { class: 'filters', onsubmit: apply }, ...inputs.map((i) => h('label', {}, i.name, i)), h('button', { type: 'submit' }, 'Filter')),
    h('div', { class: 'buttons', role: 'group', 'aria-label': 'Export this list' }, exportButton('csv'), exportButton('jsonl'), exportStatus),
    table(['exchange', 'started', 'who', 'model', 'status', 'HTTP', 'error'],
      rows.map((x) => [link('exchanges', x.id), text(x.started_at), text(x.subject), text(x.model), text(x.status), text(x.http_status), text(x.error_code)]),
      'No recorded exchanges match.'));
}

/**
 * Downloads the filtered list (every match, not only the page shown) from the export endpoint, which is chained
 * in the audit trail as `exchanges.export`. The credential goes in the header, so the file is fetched here and
 * handed to the browser as a download.
 * @param {URLSearchParams} params @param {'csv' | 'jsonl'} format @param {HTMLElement} status
 */
async function exportList(params, format, status) {
  const q = new URLSearchParams(params);
  q.delete('limit');
  q.set('format', format);
  status.replaceChildren('Exporting…');
  try {
    const res = await fetch(`/admin/v1/exchanges/export?${q.toString()}`, { headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ''}` }, cache: 'no-store' });
    if (res.status === 401) return signOut('Your credential was not accepted (expired or revoked). Sign in again.');
    if (!res.ok) {
      const e = obj(obj(await res.json().catch(() => ({}))).error);
      throw new ApiError(res.status, typeof e.code === 'string' ? e.code : 'error', typeof e.message === 'string' ? e.message : `HTTP ${res.status}`);
    }
    const url = URL.createObjectURL(await res.blob());
    const a = h('a', { href: url, download: `exchanges-${new Date().toISOString().slice(0, 19).replaceAll(':', '')}.${format}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    status.replaceChildren(`Exported as ${format.toUpperCase()}.`);
  } catch (err) {
    status.replaceChildren(errorView(err));
  }
}

/** @param {Json} x */
function exchangeFacts(x) {
  return facts(x, ['started_at', 'finished_at', 'subject', 'endpoint', 'model', 'provider', 'upstream_model', 'stream', 'status', 'forwarded', 'http_status', 'error_code', 'client_ip', 'user_agent']);
}

/** @param {string} id */
async function exchangeView(id) {
  const x = await api(`/admin/v1/exchanges/${encodeURIComponent(id)}`);
  // Finding values are hidden everywhere on this page (src: web/console/evidence.js).
  const hidden = new Hidden();
  hidden.addExchange(x);
  const usage = obj(x.usage), timings = obj(x.timings);
  const events = list(x.events);
  return h('section', {}, h('h1', {}, 'Exchange ', h('code', {}, text(x.id))),
    exchangeFacts(x),
    h('h2', {}, 'Decision'), decisionView(h, x),
    h('h2', {}, 'Conversation'), replayView(h, hidden, [x]),
    h('h2', {}, 'What the provider received'), changesView(h, hidden, x),
    h('h2', {}, 'Usage and timings'),
    h('p', {}, `${text(usage.input_tokens)} tokens in, ${text(usage.output_tokens)} out; first byte from the provider after ${ms(timings.upstream_first_byte_ms)}, to the client after ${ms(timings.client_first_byte_ms)}, done after ${ms(timings.total_ms)}.`),
    events.length > 0 && !hidden.requestUnlocated && !hidden.answerUnlocated.has(String(x.id))
      ? h('details', { class: 'recorded' }, h('summary', {}, `Stream events (${events.length}) with their recorded times`),
        table(['+ms', 'event', 'data'], events.map((e) => [text(e.t_ms), text(e.event), h('code', {}, ...hidden.nodes(h, text(e.data)))]), ''))
      : null,
    recordedBodies(h, hidden, x));
}

/** @param {unknown} v */
const ms = (v) => (typeof v === 'number' ? `${Math.round(v)} ms` : '—');

async function sessionsView() {
  const rows = list((await api('/admin/v1/sessions?limit=100')).data);
  return h('section', {}, h('h1', {}, 'Sessions'),
    table(['session', 'who', 'exchanges', 'first', 'last', 'grouped by'], rows.map((s) => [link('sessions', s.id), text(s.subject), text(s.exchange_count), text(s.first_at), text(s.last_at), text(s.grouped_by)]), 'No sessions.'));
}

/** @param {string} id */
async function sessionView(id) {
  const s = await api(`/admin/v1/sessions/${encodeURIComponent(id)}`);
  const exchanges = list(s.exchanges);
  // One set of hidden values for the whole session: a value from one turn stays hidden when a later turn repeats it.
  const hidden = new Hidden();
  for (const x of exchanges) hidden.addExchange(x);
  /** @param {Json} x */
  const header = (x) => h('h2', {}, link('exchanges', x.id), ` — ${text(x.started_at)} · ${text(x.model)} · ${text(x.status)} · ${text(obj(x.decision).effect ?? x.error_code)}`);
  return h('section', {}, h('h1', {}, 'Session ', h('code', {}, text(s.id))), facts(s, ['subject', 'grouped_by', 'first_at', 'last_at', 'exchange_count']),
    h('h2', {}, 'Replay'),
    h('p', { class: 'muted' }, 'Each request appears when it was sent and each streamed answer at the pace it was recorded (pauses between exchanges are shortened to 2 s). Findings show their type and action, never their value.'),
    replayView(h, hidden, exchanges, { header }));
}

async function policiesView() {
  const res = await api('/admin/v1/policies?limit=100');
  const runtime = obj(res.runtime);
  return h('section', {}, h('h1', {}, 'Policies'),
    facts(runtime, ['source', 'version_id', 'number', 'mode', 'loaded_at', 'error']),
    h('h2', {}, 'Versions'),
    table(['version', 'number', 'active', 'author', 'message', 'pushed'],
      list(res.data).map((v) => [link('policies', v.id), text(v.number), v.active ? h('span', { class: 'state' }, 'active') : '', text(v.author), text(v.message), text(v.created_at)]),
      'No versions pushed yet (or this gateway runs the policy file from its config).'),
    h('h2', {}, 'Activations'),
    table(['#', 'version', 'action', 'mode', 'by', 'at'], list(res.activations).map((a) => [text(a.seq), text(a.version_id), text(a.action), text(a.mode), text(a.by), text(a.at)]), 'None.'));
}

/**
 * A version's YAML with the lines that declare `rule` marked (a decision links here with `?rule=<id>`).
 * @param {string} source @param {string | null} rule
 */
function policySource(source, rule) {
  if (!rule) return [pre(source)];
  const escaped = rule.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const declares = new RegExp(`\\bid:\\s*["']?${escaped}["']?\\s*(?:[,}#]|$)`);
  const lines = source.split('\n');
  const found = lines.some((l) => declares.test(l));
  return [
    h('p', { class: found ? 'muted' : 'error', id: 'rule-note' }, found ? `Rule ${rule} is marked below.` : `Rule ${rule} is not declared in this version.`),
    h('pre', { id: 'policy-source' }, ...lines.map((l, i) => {
      const line = `${l}${i < lines.length - 1 ? '\n' : ''}`;
      return declares.test(l) ? h('mark', { class: 'rule-line', tabindex: '0' }, line) : line;
    })),
  ];
}

/** @param {string} ref @param {URLSearchParams} q */
async function policyView(ref, q) {
  const v = await api(`/admin/v1/policies/${encodeURIComponent(ref)}`);
  const at = `/admin/v1/policies/${encodeURIComponent(String(v.id))}`;
  const out = h('div', {});
  /** @param {string} what @param {() => Promise<Node>} run */
  const action = (what, run) => async () => {
    out.replaceChildren(h('p', { class: 'muted' }, `${what}…`));
    try {
      out.replaceChildren(h('h2', {}, what), await run());
    } catch (err) {
      out.replaceChildren(errorView(err));
    }
  };
  const diff = action('Diff against the active version', async () => pre(text((await api(`${at}/diff`, { method: 'POST', body: { against: 'active' } })).diff)));
  const simulate = action('Simulation on the last 7 days of recorded traffic', async () => {
    const r = await api(`${at}/simulate`, { method: 'POST', body: { since: '7d' } });
    return h('div', { id: 'simulation' },
      h('p', {}, `${text(r.evaluated)} recorded decisions evaluated, ${text(r.unchanged)} unchanged.`),
      table(['change', 'count', 'examples'], Object.entries(obj(r.changes)).map(([k, c]) => [k, text(obj(c).count), text(obj(c).examples)]), 'No changes.'),
      table(['rule', 'change', 'count'], list(r.by_rule).map((x) => [text(x.rule), text(x.change), text(x.count)]), ''));
  });
  /** @param {'enforce' | 'observe'} mode */
  const activate = (mode) => action(`Activated (${mode})`, async () => {
    const r = await api(`${at}/activate`, { method: 'POST', body: { mode } });
    return facts(r, ['id', 'number', 'mode', 'activated_at']);
  });
  return h('section', {}, h('h1', {}, `Policy version ${text(v.number)} `, h('code', {}, text(v.id))),
    facts(v, ['hash', 'author', 'message', 'created_at']),
    h('div', { class: 'buttons' },
      h('button', { type: 'button', id: 'diff', onclick: () => void diff() }, 'Diff against active'),
      h('button', { type: 'button', id: 'simulate', onclick: () => void simulate() }, 'Simulate (7 days)'),
      h('button', { type: 'button', id: 'activate', onclick: () => void activate('enforce')() }, 'Activate'),
      h('button', { type: 'button', onclick: () => void activate('observe')() }, 'Activate in observe mode')),
    out,
    h('h2', {}, 'Source'), ...policySource(text(v.source), q.get('rule')));
}

async function auditView() {
  const out = h('div', {});
  const verify = async () => {
    out.replaceChildren(h('p', { class: 'muted' }, 'Verifying every chain, checkpoint and recorded body…'));
    try {
      const r = await api('/admin/v1/audit/verify');
      out.replaceChildren(
        h('p', { class: r.ok ? 'ok' : 'error', id: 'verify-result' }, r.ok ? 'VERIFIED' : 'FAILED', ` — ${text(r.entries)} entries, ${text(r.checkpoints)} checkpoints, ${text(obj(r.bodies).checked)} body records checked (${text(obj(r.bodies).purged)} purged by retention)`),
        table(['writer', 'entries', 'seq', 'sealed through'], list(r.writers).map((w) => [text(w.writer), text(w.entries), `${text(w.first_seq)}..${text(w.last_seq)}`, text(w.sealed_seq)]), 'No writers.'),
        h('h2', {}, 'Problems'), table(['code', 'where', 'what'], list(r.problems).map((p) => [text(p.code), `${text(p.writer)} #${text(p.seq)}`, text(p.message)]), 'None.'),
        h('h2', {}, 'Warnings'), table(['code', 'what'], list(r.warnings).map((p) => [text(p.code), text(p.message)]), 'None.'));
    } catch (err) {
      out.replaceChildren(errorView(err));
    }
  };
  return h('section', {}, h('h1', {}, 'Audit trail'),
    h('p', {}, 'Checks every writer\'s hash chain, the signed checkpoints (against this gateway\'s key) and the recorded bodies.'),
    h('button', { type: 'button', onclick: () => void verify(), id: 'verify' }, 'Verify the trail'), out);
}

// ── routing ──────────────────────────────────────────────────────────────────────────────────────────────────────

let whoami = /** @type {Json | null} */ (null);

async function header() {
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    whoami = null;
    nav.hidden = true;
    who.replaceChildren();
    return;
  }
  whoami ??= await api('/admin/v1/whoami');
  nav.hidden = false;
  const roles = /** @type {string[]} */ (whoami?.roles ?? []);
  who.replaceChildren(h('span', { id: 'whoami' }, `${text(whoami?.subject)}${roles.length ? ` (${roles.join(', ')})` : ''}`), h('button', { type: 'button', onclick: () => signOut() }, 'Sign out'));
}

async function render() {
  const [path, query] = (location.hash.slice(1) || '/approvals').split('?');
  const q = new URLSearchParams(query ?? '');
  const [, kind, id] = (path ?? '').split('/');
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('current', a.getAttribute('href') === `#/${kind}`);
  if (!sessionStorage.getItem(TOKEN_KEY) || kind === 'login') {
    await header();
    main.replaceChildren(loginView());
    return;
  }
  try {
    await header();
    const decoded = id === undefined ? undefined : decodeURIComponent(id);
    const view = kind === 'approvals' ? (decoded ? approvalView(decoded) : approvalsView(q))
      : kind === 'exchanges' ? (decoded ? exchangeView(decoded) : exchangesView(q))
      : kind === 'sessions' ? (decoded ? sessionView(decoded) : sessionsView())
      : kind === 'policies' ? (decoded ? policyView(decoded, q) : policiesView())
      : kind === 'audit' ? auditView()
      : kind === 'usage' ? usageView({ api: (path) => api(path), h, table }, q)
      : kind === 'investigations' ? (decoded
        ? investigationView({ api: (path, o) => api(path, o), h, table, errorView }, decoded, () => void render())
        : investigationsView({ api: (path, o) => api(path, o), h, table, errorView }, q))
      : kind === 'admin' ? adminView({ api: (path, o) => api(path, o), h, table, errorView }, () => void render())
      : Promise.resolve(h('p', {}, 'No such page.'));
    main.replaceChildren(await view);
  } catch (err) {
    if (/** @type {ApiError} */ (err).status !== 401) main.replaceChildren(errorView(err));
  }
}

window.addEventListener('hashchange', () => void render());
if (new URLSearchParams(location.search).has('state')) {
  finishSso().then(render, (/** @type {unknown} */ err) => {
    sessionStorage.setItem('portcullis.console.notice', /** @type {Error} */ (err).message);
    history.replaceState(null, '', `${location.pathname}#/login`); // no hashchange: one render, which shows the notice
    return render();
  }).catch(() => undefined);
} else void render();
