// @ts-check
/**
 * Investigations (docs/console.md, docs/alerts.md): what alert rules opened — the list by state, and one
 * investigation with its summary, the exchanges that triggered it (links to the exchange pages), notes, and the
 * actions assign / note / close and, while its identity is suspended, lift. Every change is an admin API call with
 * the signed-in person's own credential, chained by the API. Everything from the API is set as text.
 */

/** @typedef {Record<string, unknown>} Json */
/** @typedef {Node | string | number | null | undefined | false} Child */
/**
 * @typedef {object} Ui
 * @property {(path: string, o?: { method?: string, body?: unknown }) => Promise<Json>} api
 * @property {(tag: string, attrs?: Record<string, string | EventListener>, ...children: Child[]) => HTMLElement} h
 * @property {(head: string[], rows: Child[][], empty: string) => HTMLElement} table
 * @property {(err: unknown) => HTMLElement} errorView
 */

const STATES = ['open', 'assigned', 'closed'];

/** @param {unknown} v @returns {Json} */
const obj = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? /** @type {Json} */ (v) : {});
/** @param {unknown} v @returns {Json[]} */
const list = (v) => (Array.isArray(v) ? v.map(obj) : []);
/** @param {unknown} v */
const str = (v) => (typeof v === 'string' ? v : v === null || v === undefined ? '—' : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));

/** @param {Ui} ui @param {URLSearchParams} q */
export async function investigationsView(ui, q) {
  const { h } = ui;
  const state = q.get('state') ?? 'open';
  const r = await ui.api(`/admin/v1/investigations${state === 'all' ? '' : `?state=${encodeURIComponent(state)}`}`);
  const select = /** @type {HTMLSelectElement} */ (h('select', { id: 'inv-state', 'aria-label': 'state', onchange: () => (location.hash = `#/investigations?state=${select.value}`) },
    ...[...STATES, 'all'].map((s) => h('option', s === state ? { value: s, selected: '' } : { value: s }, s))));
  const rows = list(r.data).map((i) => [
    h('a', { href: `#/investigations/${encodeURIComponent(str(i.id))}` }, str(i.id)),
    h('span', { class: `sev sev-${str(i.severity)}` }, str(i.severity)), str(i.state), str(i.rule_id), str(i.summary), str(i.opened_at), str(i.assignee),
  ]);
  return h('section', {}, h('h1', {}, 'Investigations'),
    h('p', {}, 'Opened by alert rules as exchanges finish: one per burst, across every replica. ', h('label', {}, 'Show ', select)),
    h('div', { id: 'investigations' }, ui.table(['id', 'severity', 'state', 'rule', 'what happened', 'opened', 'assignee'], rows, 'Nothing needs attention.')));
}

/** @param {Ui} ui @param {string} id @param {() => void} reload */
export async function investigationView(ui, id, reload) {
  const { h } = ui;
  const i = await ui.api(`/admin/v1/investigations/${encodeURIComponent(id)}`);
  const status = h('div', { id: 'inv-status', 'aria-live': 'polite' });
  /** @param {string} path @param {Json} body @param {string} done */
  const act = async (path, body, done) => {
    try {
      await ui.api(`/admin/v1${path}`, { method: 'POST', body });
      reload();
      status.replaceChildren(h('p', { class: 'ok' }, done));
    } catch (err) {
      status.replaceChildren(ui.errorView(err));
    }
  };
  const open = i.state !== 'closed';
  const note = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'inv-note', rows: '3', cols: '60', 'aria-label': 'note', required: '' }));
  const resolution = /** @type {HTMLInputElement} */ (h('input', { id: 'inv-resolution', size: '50', 'aria-label': 'resolution', required: '' }));
  const base = `/investigations/${encodeURIComponent(id)}`;
  const exchanges = list(i.exchanges).map((x) => [
    x.missing ? str(x.id) : h('a', { href: `#/exchanges/${encodeURIComponent(str(x.id))}` }, str(x.id)), str(x.started_at), str(x.subject), str(x.model), str(x.status), str(x.error_code),
  ]);
  const dl = h('dl', { class: 'facts', id: 'inv-facts' });
  for (const k of ['summary', 'state', 'severity', 'rule_id', 'kind', 'subject', 'identity', 'window', 'opened_at', 'response', 'assignee', 'closed_at', 'closed_by', 'resolution']) {
    // A sliding window's key is the time (epoch ms) of its first counted exchange.
    const v = k === 'window' && typeof i.window === 'string' && /^\d+$/.test(i.window) ? `from ${new Date(Number(i.window)).toISOString()}` : str(i[k]);
    dl.append(h('dt', {}, k.replaceAll('_', ' ')), h('dd', {}, v));
  }
  return h('section', {}, h('h1', {}, `Investigation ${str(i.id)}`), dl,
    activeResponse(h, obj(i.active_response), str(i.identity), act),
    h('h2', {}, 'Exchanges that triggered it'), h('div', { id: 'inv-exchanges' }, ui.table(['exchange', 'started', 'subject', 'model', 'status', 'error'], exchanges, 'None linked.')),
    h('h2', {}, 'Notes'), h('div', { id: 'inv-notes' }, ui.table(['at', 'author', 'note'], list(i.notes).map((n) => [str(n.at), str(n.author), str(n.text)]), 'No notes yet.')),
    open ? h('form', { id: 'inv-note-form', onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); void act(`${base}/notes`, { text: note.value }, 'Note added.'); } },
      note, h('button', { type: 'submit' }, 'Add note')) : null,
    open ? h('p', {}, h('button', { type: 'button', id: 'inv-assign', onclick: () => void act(`${base}/assign`, {}, 'Assigned to you.') }, 'Assign to me')) : null,
    open ? h('form', { id: 'inv-close-form', onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); void act(`${base}/close`, { resolution: resolution.value }, 'Closed.'); } },
      h('label', {}, 'Resolution ', resolution), h('button', { type: 'submit' }, 'Close investigation')) : null,
    status);
}

/**
 * The automatic response still in force, worded by its mode (docs/alerts.md): `suspend` refuses every key and token
 * of the identity; `require_approval` holds each of its requests for an approver. Either is lifted the same way.
 * @param {Ui['h']} h @param {Json} r @param {string} identity
 * @param {(path: string, body: Json, done: string) => Promise<void>} act
 */
function activeResponse(h, r, identity, act) {
  if (r.mode !== 'suspend' && r.mode !== 'require_approval') return null;
  const held = r.mode === 'require_approval';
  const text = held
    ? `${identity} is held for approval: each of its requests waits for an approver of ${(Array.isArray(r.approvers) ? r.approvers.map(str) : []).join(', ') || 'the configured groups'}. `
    : `${identity} is suspended: every key and token of it is refused. `;
  return h('p', { class: 'error', id: 'inv-suspended', 'data-mode': str(r.mode) }, text,
    h('button', { type: 'button', id: 'inv-lift', onclick: () => void act('/suspensions/lift', { identity }, held ? 'Approval requirement lifted.' : 'Suspension lifted.') },
      held ? 'Lift approval requirement' : 'Lift suspension'));
}
