// @ts-check
/**
 * Administration (docs/console.md#administration): Portcullis keys of people and service accounts (create — the
 * secret shown once —, revoke, rotate), the people, service accounts and groups as the gateway has seen them (last
 * seen, client tools), the providers and routes (never a secret), SIEM delivery health. Every change is an
 * admin API call with the signed-in admin's own credential, chained in the audit trail by the API as any other.
 */

/** @typedef {Record<string, unknown>} Json */
/** @typedef {Node | string | number | null | undefined | false} Child */
/**
 * @typedef {object} Ui
 * @property {(path: string, o?: { method?: string, body?: unknown, accept?: number[] }) => Promise<Json>} api
 * @property {(tag: string, attrs?: Record<string, string | EventListener>, ...children: Child[]) => HTMLElement} h
 * @property {(head: string[], rows: Child[][], empty: string) => HTMLElement} table
 * @property {(err: unknown) => HTMLElement} errorView
 */

/** @param {unknown} v @returns {Json} */
const obj = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? /** @type {Json} */ (v) : {});
/** @param {unknown} v @returns {Json[]} */
const list = (v) => (Array.isArray(v) ? v.map(obj) : []);
/** @param {unknown} v */
const str = (v) => (typeof v === 'string' ? v : v === null || v === undefined ? '—' : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));

/**
 * The new key, once: shown in a read-only field with the warning that it is not shown again; it is never stored
 * by the console, and leaving the page drops it.
 * @param {Ui} ui @param {Json} created
 */
function shownOnce(ui, created) {
  const field = /** @type {HTMLInputElement} */ (ui.h('input', { id: 'new-key', readonly: '', value: str(created.key), size: '70', 'aria-label': 'the new key' }));
  return ui.h('div', { class: 'once', role: 'status' },
    ui.h('p', {}, ui.h('strong', {}, `Key ${str(created.id)} for ${str(created.subject)}`), ' — copy it now: it is not shown again.'),
    field);
}

/** @param {Ui} ui @param {() => void} reload */
export async function adminView(ui, reload) {
  const { h } = ui;
  const [keys, providers, health, seen] = await Promise.all([
    ui.api('/admin/v1/keys'),
    ui.api('/admin/v1/providers'),
    // 503 is the answer when a sink is behind or failing: exactly what this table is for.
    ui.api('/admin/v1/events/health', { accept: [503] }).catch((/** @type {unknown} */ e) => ({ failed: e })),
    ui.api('/admin/v1/analytics/identities'),
  ]);
  const status = h('div', { id: 'admin-status', 'aria-live': 'polite' });

  /** @param {Json} b */
  const create = async (b) => {
    const created = await ui.api('/admin/v1/keys', { method: 'POST', body: b });
    return created;
  };
  const name = /** @type {HTMLInputElement} */ (h('input', { id: 'key-name', name: 'name', required: '', pattern: '[A-Za-z0-9@._+\\-]{1,128}', autocomplete: 'off' }));
  const kind = /** @type {HTMLSelectElement} */ (h('select', { id: 'key-kind', name: 'kind' }, h('option', { value: 'user' }, 'person'), h('option', { value: 'service' }, 'service account')));
  const groups = /** @type {HTMLInputElement} */ (h('input', { id: 'key-groups', name: 'groups', placeholder: 'eng, ml', autocomplete: 'off' }));
  const expires = /** @type {HTMLInputElement} */ (h('input', { id: 'key-expires', name: 'expires_in', placeholder: '90d (optional)', size: '10', autocomplete: 'off' }));
  /** @param {Event} e */
  const submit = async (e) => {
    e.preventDefault();
    /** @type {Json} */
    const body = { name: name.value.trim(), kind: kind.value, groups: groups.value.split(',').map((g) => g.trim()).filter(Boolean) };
    if (expires.value.trim()) body.expires_in = expires.value.trim();
    try {
      const created = await create(body);
      name.value = '';
      groups.value = '';
      expires.value = '';
      await refreshKeys();
      status.replaceChildren(shownOnce(ui, created));
    } catch (err) {
      status.replaceChildren(ui.errorView(err));
    }
  };

  /** @param {Json} k */
  const revoke = async (k) => {
    if (!confirm(`Revoke key ${str(k.id)} of ${str(k.subject)}? Requests with it are refused from now on.`)) return;
    try {
      await ui.api(`/admin/v1/keys/${encodeURIComponent(str(k.id))}`, { method: 'DELETE' });
      await refreshKeys();
      status.replaceChildren(h('p', { class: 'ok' }, `Key ${str(k.id)} revoked.`));
    } catch (err) {
      status.replaceChildren(ui.errorView(err));
    }
  };
  /**
   * Rotation: a new key with the same holder, kind, groups and description, then the old one revoked — two
   * admin actions, each chained. If the revocation fails, the new key is still shown (both work until retried).
   * @param {Json} k
   */
  const rotate = async (k) => {
    if (!confirm(`Rotate key ${str(k.id)} of ${str(k.subject)}? A new key is made and this one is revoked.`)) return;
    try {
      /** @type {Json} */
      const body = { name: k.name, kind: k.kind, groups: Array.isArray(k.groups) ? k.groups : [] };
      if (typeof k.description === 'string') body.description = k.description;
      const created = await create(body);
      const shown = shownOnce(ui, created);
      try {
        await ui.api(`/admin/v1/keys/${encodeURIComponent(str(k.id))}`, { method: 'DELETE' });
        status.replaceChildren(shown, h('p', { class: 'ok' }, `Old key ${str(k.id)} revoked.`));
      } catch (err) {
        status.replaceChildren(shown, h('p', { class: 'error' }, `The old key ${str(k.id)} is still active: `), ui.errorView(err));
      }
      await refreshKeys();
    } catch (err) {
      status.replaceChildren(ui.errorView(err));
    }
  };

  const keysBox = h('div', { id: 'keys' });
  /** @param {Json[]} rows */
  const renderKeys = (rows) => keysBox.replaceChildren(ui.table(['key', 'holder', 'kind', 'groups', 'created', 'expires', 'state', ''],
    rows.map((k) => [
      str(k.id), str(k.subject), str(k.kind), Array.isArray(k.groups) ? k.groups.map(String).join(', ') : '', str(k.created_at), str(k.expires_at),
      k.revoked_at ? `revoked ${str(k.revoked_at)}` : 'active',
      k.revoked_at ? '' : h('span', { class: 'buttons' },
        h('button', { type: 'button', class: 'rotate', onclick: () => void rotate(k), 'aria-label': `rotate key ${str(k.id)}` }, 'Rotate'),
        h('button', { type: 'button', class: 'deny', onclick: () => void revoke(k), 'aria-label': `revoke key ${str(k.id)}` }, 'Revoke')),
    ]), 'No keys.'));
  const refreshKeys = async () => renderKeys(list((await ui.api('/admin/v1/keys')).data));
  renderKeys(list(keys.data));

  const sinks = 'failed' in health ? h('p', { class: 'error' }, 'SIEM health is not available to you.') : h('div', { id: 'siem-sinks' }, ui.table(['sink', 'backlog', 'oldest (ms)', 'state', 'last error', 'last delivered'],
    list(health.sinks).map((s) => [str(s.name), str(s.backlog), str(s.oldest_age_ms), s.failing ? 'failing' : s.behind ? 'behind' : 'ok', str(s.last_error), s.last_delivered_at ? new Date(Number(s.last_delivered_at)).toISOString() : '—']),
    'No SIEM sinks are configured.'));

  /** @param {unknown} v */
  const names = (v) => (Array.isArray(v) ? v.map(String).join(', ') : '');
  const people = h('section', { id: 'seen-identities' }, h('h2', {}, 'People and service accounts seen'),
    ui.table(['identity', 'kind', 'name', 'groups', 'last seen', 'client tools', 'requests'],
      list(seen.identities).map((i) => [
        h('a', { href: `#/exchanges?${new URLSearchParams({ subject: str(i.subject) }).toString()}`, title: 'show their exchanges' }, str(i.subject)),
        i.kind === 'service' ? 'service account' : str(i.kind), str(i.name), names(i.groups), str(i.last_seen),
        list(i.clients).map((c) => str(c.client)).join(', '), str(i.requests),
      ]), 'Nobody has used the gateway yet.'));
  const groupsSeen = h('section', { id: 'seen-groups' }, h('h2', {}, 'Groups seen'),
    ui.table(['group', 'members', 'last seen', 'client tools', 'requests'],
      list(seen.groups).map((g) => [str(g.group), str(g.members), str(g.last_seen), names(g.clients), str(g.requests)]), 'No groups yet.'));
  const routes = h('section', { id: 'routes' }, h('h2', {}, 'Routes'),
    h('p', { class: 'muted' }, 'First match wins; a model not listed is refused.'),
    ui.table(['model', 'provider', 'upstream model'],
      list(providers.routes).map((r) => [str(r.model), str(r.provider), r.upstream_model === null ? '(as asked)' : str(r.upstream_model)]), 'No routes.'));

  return h('section', { class: 'admin' },
    h('h1', {}, 'Administration'),
    h('h2', {}, 'Keys'),
    h('form', { class: 'filters', id: 'create-key', onsubmit: (e) => void submit(e) },
      h('label', { for: 'key-name' }, 'Holder (name)', name), h('label', { for: 'key-kind' }, 'Kind', kind),
      h('label', { for: 'key-groups' }, 'Groups', groups), h('label', { for: 'key-expires' }, 'Expires in', expires),
      h('button', { type: 'submit' }, 'Create key')),
    status,
    keysBox,
    people, groupsSeen,
    h('h2', {}, 'Providers'),
    h('p', { class: 'muted' }, 'Provider keys are write-only: set them with ', h('code', {}, 'portcullis credentials set'), ' or the API; no page shows them.'),
    ui.table(['provider', 'type', 'credential from', 'credential updated'],
      list(providers.data).map((p) => [str(p.name), str(p.type), str(p.credential_source), str(p.credential_updated_at)]), 'No providers.'),
    routes,
    h('h2', {}, 'SIEM delivery'),
    sinks,
    h('p', {}, h('button', { type: 'button', onclick: reload }, 'Refresh')));
}
