// @ts-check
import { requestConversation, responseParts, streamedAnswer } from './conversation.js';
import { messageView, partView } from './evidence.js';

/**
 * A session (or one exchange) played back with its recorded timing (docs/console.md#replay): each exchange's
 * request appears at its recorded start, and a streamed answer grows piece by piece at the times its events were
 * recorded (`events[].t_ms`, relative to the exchange's start), a complete answer at the exchange's end. Idle time
 * between exchanges is shortened to MAX_GAP_MS, as `portcullis sessions replay --max-gap` does. Play, pause,
 * restart and the speed are buttons and a select; the page first shows the whole session, as played to the end.
 *
 * Finding values stay hidden while an answer streams in: text that could be the start of a hidden value is held
 * back until the value is complete (and then shown as its mark) or ruled out.
 */

/** @typedef {Record<string, unknown>} Json */
/** @typedef {import('./evidence.js').H} H */
/** @typedef {import('./evidence.js').Hidden} Hidden */
/** @typedef {{ at: number, run: () => void }} Step */

const MAX_GAP_MS = 2000;
const SPEEDS = ['0.5', '1', '2', '4', '10'];

/** @param {unknown} v @returns {Json} */
const obj = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? /** @type {Json} */ (v) : {});
/** @param {unknown} v @returns {Json[]} */
const list = (v) => (Array.isArray(v) ? v.map(obj) : []);
/** @param {unknown} v */
const str = (v) => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : v === undefined || v === null ? '' : JSON.stringify(v));
/** @param {number} ms */
const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;

/**
 * @param {H} h @param {Hidden} hidden @param {Json[]} exchanges
 * @param {{ header?: (x: Json) => HTMLElement }} [o] a heading per exchange (sessions)
 */
export function replayView(h, hidden, exchanges, o = {}) {
  const stage = h('div', { class: 'stage conversation', id: 'replay-stage' });
  /** @type {Step[]} */
  const steps = [];
  /** What each exchange forgets when the replay starts over. @type {(() => void)[]} */
  const resets = [];
  let offset = 0;
  /** @type {number | undefined} */
  let prevEnd;
  for (const x of exchanges) {
    const started = Date.parse(str(x.started_at));
    const total = typeof obj(x.timings).total_ms === 'number' ? /** @type {number} */ (obj(x.timings).total_ms) : 0;
    if (prevEnd !== undefined) offset += Math.min(Math.max(started - prevEnd, 0), MAX_GAP_MS);
    const at = offset;
    steps.push(...exchangeSteps(h, hidden, x, at, stage, o.header, resets));
    const events = list(x.events);
    const last = events.length ? Math.max(...events.map((e) => (typeof e.t_ms === 'number' ? e.t_ms : 0))) : 0;
    offset = at + Math.max(total, last);
    prevEnd = started + Math.max(total, last);
  }
  steps.sort((a, b) => a.at - b.at); // stable: same-time steps keep their order
  const end = steps.length ? steps[steps.length - 1].at : 0;

  const root = h('div', { class: 'replay', id: 'replay', 'data-state': 'done' });
  const playButton = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', id: 'replay-play', 'aria-pressed': 'false' }, 'Play'));
  const speed = /** @type {HTMLSelectElement} */ (h('select', { id: 'replay-speed', name: 'speed' }, ...SPEEDS.map((s) => h('option', s === '1' ? { value: s, selected: '' } : { value: s }, `${s}×`))));
  const status = h('span', { class: 'muted', id: 'replay-position', role: 'status' });

  let next = 0;
  let pos = 0;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let waitStart = 0;
  const rate = () => Number(speed.value) || 1;
  /** @param {'idle' | 'playing' | 'paused' | 'done'} state */
  const setState = (state) => {
    root.dataset.state = state;
    playButton.textContent = state === 'playing' ? 'Pause' : state === 'paused' ? 'Resume' : 'Play';
    playButton.setAttribute('aria-pressed', String(state === 'playing'));
    status.textContent = state === 'done' ? `${secs(end)} recorded, shown in full` : `at ${secs(pos)} of ${secs(end)}`;
  };
  const reset = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    stage.replaceChildren();
    for (const r of resets) r();
    next = 0;
    pos = 0;
  };
  const step = () => {
    timer = null;
    while (next < steps.length && steps[next].at <= pos) steps[next++].run();
    if (next >= steps.length) {
      pos = end;
      setState('done');
      return;
    }
    setState('playing');
    const target = steps[next].at;
    waitStart = performance.now();
    timer = setTimeout(() => {
      pos = target;
      step();
    }, (target - pos) / rate());
  };
  const pause = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    pos = Math.min(pos + (performance.now() - waitStart) * rate(), steps[next]?.at ?? end);
    setState('paused');
  };
  playButton.addEventListener('click', () => {
    if (root.dataset.state === 'playing') pause();
    else {
      if (root.dataset.state === 'done') reset();
      step();
    }
  });
  speed.addEventListener('change', () => {
    if (root.dataset.state !== 'playing') return;
    pause();
    step();
  });
  const restart = h('button', { type: 'button', id: 'replay-restart', onclick: () => { reset(); step(); } }, 'Restart');
  const showAll = h('button', { type: 'button', id: 'replay-all', onclick: () => { reset(); pos = end; step(); } }, 'Show all');

  // First the whole session, as played to the end.
  pos = end;
  step();
  root.append(h('div', { class: 'buttons player', role: 'group', 'aria-label': 'Replay' }, playButton, restart, showAll, h('label', { class: 'inline' }, 'Speed ', speed), status), stage);
  return root;
}

/**
 * The steps of one exchange: its request at `at`, then its answer — piece by piece for a stream.
 * @param {H} h @param {Hidden} hidden @param {Json} x @param {number} at @param {HTMLElement} stage
 * @param {((x: Json) => HTMLElement) | undefined} header @param {(() => void)[]} resets
 * @returns {Step[]}
 */
function exchangeSteps(h, hidden, x, at, stage, header, resets) {
  const id = str(x.id);
  const article = () => /** @type {HTMLElement} */ (stage.querySelector(`article[data-exchange="${CSS.escape(id)}"]`));
  /** @type {Step[]} */
  const steps = [{
    at, run: () => {
      const a = h('article', { class: 'turn', 'data-exchange': id }, header ? header(x) : null);
      if (hidden.requestUnlocated) a.append(h('p', { class: 'error', role: 'note' }, 'The recorded bodies are not shown: a finding could not be located in them, and its value must not appear here.'));
      else if (x.client_request === null || x.client_request === undefined) a.append(h('p', { class: 'muted' }, 'No body was recorded (recording.bodies is off, or retention removed it).'));
      else {
        const { messages, tools } = requestConversation(x.client_request);
        if (tools.length > 0) a.append(h('p', { class: 'tools muted' }, 'Tools offered: ', ...tools.flatMap((t, i) => [i ? ', ' : '', h('code', {}, ...hidden.nodes(h, t))])));
        for (const m of messages) a.append(messageView(h, hidden, m.role, m.parts));
      }
      stage.append(a);
    },
  }];
  if (hidden.requestUnlocated || x.client_request === null || x.client_request === undefined) return steps;
  const events = list(x.events);
  const total = typeof obj(x.timings).total_ms === 'number' ? /** @type {number} */ (obj(x.timings).total_ms) : 0;
  if (hidden.answerUnlocated.has(id)) {
    steps.push({ at: at + total, run: () => article().append(h('p', { class: 'error', role: 'note' }, 'The answer is not shown: a finding in it could not be located.')) });
    return steps;
  }
  if (events.length === 0) {
    const parts = responseParts(x.response);
    steps.push({
      at: at + total, run: () => article().append(parts.length ? messageView(h, hidden, 'assistant', parts, 'answer')
        : h('p', { class: 'muted answer-none' }, x.forwarded === false ? 'No answer: the request was not sent to the provider.' : `No answer recorded (${str(x.status)}).`)),
    });
    return steps;
  }
  const { parts, deltas } = streamedAnswer(events);
  /** Per part: the text received so far, how much of it is on the page, and its element. */
  const fresh = () => parts.map(() => ({ text: '', released: 0, el: /** @type {HTMLElement | null} */ (null) }));
  let shown = fresh();
  let answer = /** @type {HTMLElement | null} */ (null);
  resets.push(() => {
    shown = fresh();
    answer = null;
  });
  /** @param {number} i @param {number} t */
  const element = (i, t) => {
    if (!answer) {
      answer = messageView(h, hidden, 'assistant', [], 'answer streamed');
      article().append(answer);
    }
    if (!shown[i].el) {
      const p = parts[i];
      const node = partView(h, hidden, p.kind === 'tool_call' ? { ...p, args: '' } : p.kind === 'text' ? { kind: 'text', text: '' } : p);
      node.dataset.t = String(t);
      answer.append(node);
      shown[i].el = p.kind === 'tool_call' ? /** @type {HTMLElement} */ (node.querySelector('.args')) : node;
    }
    return /** @type {HTMLElement} */ (shown[i].el);
  };
  /** @param {number} i @param {number} t @param {boolean} final */
  const release = (i, t, final) => {
    const s = shown[i];
    const upTo = final ? s.text.length : s.text.length - hidden.heldBack(s.text);
    const el = element(i, t);
    if (upTo > s.released) {
      el.append(h('span', { class: 'chunk', 'data-t': String(t) }, ...hidden.nodes(h, s.text.slice(s.released, upTo))));
      s.released = upTo;
    }
  };
  const lastOf = new Map(deltas.map((d, n) => [d.part, n]));
  deltas.forEach((d, n) => {
    steps.push({
      at: at + d.t_ms, run: () => {
        shown[d.part].text += d.text;
        release(d.part, at + d.t_ms, lastOf.get(d.part) === n);
      },
    });
  });
  return steps;
}
