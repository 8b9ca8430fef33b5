// @ts-check
/**
 * The usage dashboard (docs/console.md#usage): who used what, what was refused and why, where findings show up,
 * budgets against their limits. Every number comes from GET /admin/v1/analytics/usage (the rollups) or
 * /admin/v1/usage (budgets) and links to the exchanges behind it where the exchange list can select them.
 * Charts are drawn by uPlot, served by the gateway itself (no CDN; the CSP stays 'self').
 */

/** @typedef {Record<string, unknown>} Json */
/** @typedef {Node | string | number | null | undefined | false} Child */
/**
 * @typedef {object} Ui
 * @property {(path: string) => Promise<Json>} api
 * @property {(tag: string, attrs?: Record<string, string | EventListener>, ...children: Child[]) => HTMLElement} h
 * @property {(head: string[], rows: Child[][], empty: string) => HTMLElement} table
 */

/** Ranges offered, with the bucket size that gives a readable chart. */
const RANGES = /** @type {const} */ ({ '1h': 'minute', '24h': 'hour', '7d': 'hour', '30d': 'day' });
const BUCKET_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const BREAKDOWNS = /** @type {const} */ ([
  ['user', 'Top users'], ['service_account', 'Service accounts'], ['group', 'Groups'], ['model', 'Models'],
  ['client', 'Client tools'], ['refusal', 'Refusals by reason'], ['finding', 'Findings by type'],
]);


/** @param {unknown} v @returns {Json} */
const obj = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? /** @type {Json} */ (v) : {});
/** @param {unknown} v @returns {Json[]} */
const list = (v) => (Array.isArray(v) ? v.map(obj) : []);
/** @param {unknown} v */
const num = (v) => (typeof v === 'number' ? v : 0);
const fmt = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
/** @param {unknown} v */
const ms = (v) => (typeof v === 'number' ? fmt.format(v) : '—');
/**
 * A time to decision for people: seconds, minutes, hours or days. p50/p95 are the upper bound of their histogram
 * bucket (docs/analytics.md#approvals), so they read "≤ …".
 * @param {unknown} v
 */
const duration = (v) => {
  if (typeof v !== 'number') return '—';
  if (v < 60_000) return `${fmt.format(v / 1000)} s`;
  if (v < 7_200_000) return `${fmt.format(v / 60_000)} min`;
  if (v < 172_800_000) return `${fmt.format(v / 3_600_000)} h`;
  return `${fmt.format(v / 86_400_000)} d`;
};
const usd = new Intl.NumberFormat('en', { style: 'currency', currency: 'USD', maximumFractionDigits: 4 });

/**
 * A number that opens the exchanges behind it (the API says which filters select them, or null).
 * @param {Ui} ui @param {string} label @param {unknown} exchanges
 */
function drill(ui, label, exchanges) {
  const f = obj(exchanges);
  if (!exchanges) return label;
  /** @type {Record<string, string>} */
  const q = {};
  for (const [k, v] of Object.entries(f)) if (typeof v === 'string') q[k] = v;
  return ui.h('a', { href: `#/exchanges?${new URLSearchParams(q).toString()}`, title: 'show these exchanges' }, label);
}

/** @param {Ui} ui @param {URLSearchParams} q */
export async function usageView(ui, q) {
  const { h } = ui;
  const range = /** @type {keyof typeof RANGES} */ (Object.hasOwn(RANGES, q.get('range') ?? '') ? q.get('range') : '24h');
  const granularity = RANGES[range];
  const base = new URLSearchParams({ since: range, granularity });
  for (const f of ['group', 'model']) if (q.get(f)) base.set(f, /** @type {string} */ (q.get(f)));
  /** @param {string} by @param {string} [limit] */
  const usage = (by, limit = '10') => ui.api(`/admin/v1/analytics/usage?${new URLSearchParams({ ...Object.fromEntries(base), by, limit }).toString()}`);
  const [all, budgets, ...parts] = await Promise.all([
    usage('all'), ui.api('/admin/v1/usage').catch(() => ({ data: [] })), ...BREAKDOWNS.map(([by]) => usage(by)),
  ]);
  const total = list(all.totals)[0] ?? {};
  const latency = obj(total.latency_ms);

  const rangeSelect = /** @type {HTMLSelectElement} */ (h('select', { name: 'range', id: 'usage-range' },
    ...Object.keys(RANGES).map((r) => h('option', r === range ? { value: r, selected: '' } : { value: r }, `last ${r}`))));
  const group = /** @type {HTMLInputElement} */ (h('input', { name: 'group', id: 'usage-group', value: q.get('group') ?? '', placeholder: 'any' }));
  const model = /** @type {HTMLInputElement} */ (h('input', { name: 'model', id: 'usage-model', value: q.get('model') ?? '', placeholder: 'any' }));
  /** @param {Event} e */
  const apply = (e) => {
    e.preventDefault();
    const next = new URLSearchParams({ range: rangeSelect.value });
    if (group.value.trim()) next.set('group', group.value.trim());
    else if (model.value.trim()) next.set('model', model.value.trim());
    location.hash = `#/usage?${next.toString()}`;
  };

  /** @param {string} label @param {string} value @param {string} id @param {unknown} [exchanges] */
  const tile = (label, value, id, exchanges) => h('div', { class: 'tile', id }, h('span', { class: 'muted' }, label), h('strong', {}, drill(ui, value, exchanges)));
  const tiles = h('div', { class: 'tiles' },
    tile('Requests', fmt.format(num(total.requests)), 'tile-requests', total.exchanges),
    // Sums over the range's exchanges (tokens, cost, findings, latency) open those exchanges; Refused and Errors
    // open the links the gateway gives for them (the statuses it counts, src/analytics/report.ts).
    tile('Tokens in', fmt.format(num(total.input_tokens)), 'tile-input', total.exchanges),
    tile('Tokens out', fmt.format(num(total.output_tokens)), 'tile-output', total.exchanges),
    tile('Cost', usd.format(num(total.cost_usd)), 'tile-cost', total.exchanges),
    tile('Refused', fmt.format(num(total.refused)), 'tile-refused', total.refused_exchanges),
    tile('Errors', fmt.format(num(total.errors)), 'tile-errors', total.errors_exchanges),
    tile('Findings', fmt.format(num(total.findings)), 'tile-findings', total.exchanges),
    tile('Latency p50 / p95', `${ms(latency.p50)} / ${ms(latency.p95)} ms`, 'tile-latency', total.exchanges));

  // Approvals of the range (requested under the bucket of their creation): how many, how they ended, how long people took.
  const approvals = obj(total.approvals);
  // Each approval count links to the approvals behind it: same range and model, that outcome (none with a group filter:
  // the approvals list cannot select by group, so a link would show more than the number counts).
  const behind = total.exchanges ? obj(total.exchanges) : null;
  /** @param {string} label @param {unknown} n @param {string} id @param {string} [outcome] */
  const approvalTile = (label, n, id, outcome) => h('div', { class: 'tile', id }, h('span', { class: 'muted' }, label),
    h('strong', {}, behind ? h('a', { href: `#/approvals?${new URLSearchParams({ state: 'all', ...(outcome ? { outcome } : {}), ...Object.fromEntries(Object.entries(behind).filter(([k, v]) => ['since', 'until', 'model'].includes(k) && typeof v === 'string')) }).toString()}`, title: 'show these approvals' }, fmt.format(num(n))) : fmt.format(num(n))));
  const decision = obj(approvals.time_to_decision_ms);
  /** @param {unknown} v */
  const bound = (v) => (typeof v === 'number' ? `≤ ${duration(v)}` : '—');
  const approvalTiles = h('section', { class: 'approvals-usage', id: 'usage-approvals' },
    h('h2', {}, 'Approvals'),
    h('div', { class: 'tiles' },
      approvalTile('Requested', approvals.requested, 'tile-approvals-requested'),
      approvalTile('Approved', approvals.approved, 'tile-approvals-approved', 'approved'),
      approvalTile('Denied', approvals.denied, 'tile-approvals-denied', 'denied'),
      approvalTile('Expired', approvals.expired, 'tile-approvals-expired', 'expired'),
      tile('Time to decision (avg)', duration(decision.avg), 'tile-approvals-avg'),
      tile('p50 / p95', `${bound(decision.p50)} / ${bound(decision.p95)}`, 'tile-approvals-pct')));

  const chart = h('figure', { class: 'chart', id: 'usage-chart', 'aria-label': 'requests, refusals and errors over time' });
  const breakdowns = BREAKDOWNS.map(([by, title], i) => {
    const rows = list(parts[i]?.totals);
    return h('section', { class: 'breakdown', id: `by-${by}` },
      h('h2', {}, title),
      ui.table([by.replace('_', ' '), 'requests', 'tokens', 'cost', 'refused', 'findings'],
        rows.map((x) => [String(x.value), drill(ui, fmt.format(num(x.requests)), x.exchanges), fmt.format(num(x.input_tokens) + num(x.output_tokens)), usd.format(num(x.cost_usd)), fmt.format(num(x.refused)), fmt.format(num(x.findings))]),
        'Nothing in this range.'));
  });
  const budgetRows = list(budgets.data).map((b) => {
    const used = num(b.used);
    const limit = typeof b.limit === 'number' ? b.limit : null;
    return [String(b.limit_id), String(b.scope), String(b.metric), limit === null ? fmt.format(used) : h('meter', { min: '0', max: String(limit), value: String(used), high: String(limit * 0.8), title: `${used} of ${limit}` }), `${fmt.format(used)}${limit === null ? '' : ` of ${fmt.format(limit)}`}`];
  });

  const view = h('section', { class: 'usage' },
    h('h1', {}, 'Usage'),
    h('form', { class: 'filters', onsubmit: apply },
      h('label', { for: 'usage-range' }, 'Range', rangeSelect), h('label', { for: 'usage-group' }, 'Group', group), h('label', { for: 'usage-model' }, 'Model', model),
      h('button', { type: 'submit' }, 'Show')),
    tiles, chart, approvalTiles,
    h('div', { class: 'breakdowns' }, ...breakdowns),
    h('h2', {}, 'Budgets and rate limits (current windows)'),
    ui.table(['limit', 'scope', 'metric', 'use', ''], budgetRows, 'No budget counters in the current windows.'));
  // Drawn once the element is in the page (uPlot measures its container).
  queueMicrotask(() => void drawChart(chart, list(all.series), BUCKET_MS[granularity], String(all.from), String(all.to)).catch(() => chart.append('The chart could not be drawn.')));
  return view;
}

/**
 * Requests, refusals and errors per bucket, every bucket of the range present (zero where nothing happened).
 * @param {HTMLElement} el @param {Json[]} series @param {number} size @param {string} from @param {string} to
 */
async function drawChart(el, series, size, from, to) {
  // The library is served next to this file, so the browser imports it by URL; its types come from the package.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- a URL import is untyped; the cast names its type
  const mod = /** @type {{ default: typeof import('uplot') }} */ (await import(/** @type {string} */ ('/console/uPlot.esm.js')));
  const UPlot = mod.default;
  const start = Date.parse(from);
  const end = Date.parse(to);
  /** @type {number[]} */
  const xs = [];
  for (let t = start; t < end; t += size) xs.push(t / 1000);
  const at = new Map(series.map((s) => [Date.parse(String(s.bucket)) / 1000, s]));
  /** @param {string} k */
  const ys = (k) => xs.map((x) => num(at.get(x)?.[k]));
  const width = Math.max(320, Math.min(el.parentElement?.clientWidth ?? 900, 1200));
  new UPlot({
    width, height: 220,
    scales: { x: { time: true } },
    series: [{}, { label: 'requests', stroke: '#2a62c9', width: 2 }, { label: 'refused', stroke: '#c62828', width: 2 }, { label: 'errors', stroke: '#ef6c00', width: 2 }],
    axes: [{ stroke: '#888' }, { stroke: '#888' }],
  }, [xs, ys('requests'), ys('refused'), ys('errors')], el);
  el.dataset.points = String(xs.length);
}
