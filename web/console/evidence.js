// @ts-check
import { atPath, requestConversation, responseParts, streamedAnswer } from './conversation.js';
import { diff, words } from './diff.js';

/**
 * An exchange as evidence (docs/console.md#exchange): the conversation (system, user, assistant and tool messages,
 * tool calls with their arguments, the answer — reassembled from the stream when it was streamed), findings marked
 * in place by type and action, what the gateway changed on the way to the provider as a diff, and the decision in
 * words with its rules linked to the policy version.
 *
 * A finding's value is never put on the page, whoever looks: the API gives auditors and admins the recorded bodies,
 * but a screen is shared, screenshotted and looked over. Each value is located by the finding's path and offsets,
 * then every string the page shows (the conversation, the diff, the stream, the recorded JSON) has every occurrence
 * of every such value replaced by a mark before it becomes text. If a request finding cannot be located, no body is
 * shown at all; if a response finding cannot, the answer is not shown — a value shown by mistake is worse than
 * a body withheld.
 */

/** @typedef {Record<string, unknown>} Json */
/** @typedef {Node | string | number | null | undefined | false} Child */
/** @typedef {(tag: string, attrs?: Record<string, string | EventListener>, ...children: Child[]) => HTMLElement} H */
/** @typedef {import('./conversation.js').Part} Part */

/** @param {unknown} v @returns {Json} */
const obj = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? /** @type {Json} */ (v) : {});
/** @param {unknown} v @returns {Json[]} */
const list = (v) => (Array.isArray(v) ? v.map(obj) : []);
/** @param {unknown} v */
const str = (v) => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : v === undefined || v === null ? '' : JSON.stringify(v));

// Private-use characters around an index stand for a hidden value until the text is turned into nodes.
const OPEN = '\uE000', CLOSE = '\uE001';
const ATOM = /\uE000\d+\uE001/;
const ACTION_WORDS = /** @type {Record<string, string>} */ ({ flag: 'flagged', mask: 'masked', redact: 'redacted', tokenize: 'tokenized', block: 'blocked' });

/** The finding values of one exchange (or session), and what the page shows instead of each. */
export class Hidden {
  constructor() {
    /** @type {string[]} */ this.values = [];
    /** @type {{ type: string, action: string, rule: string }[]} */ this.labels = [];
    /** @type {RegExp | null} */ this.re = null;
    /** Request findings that could not be located: no body may be shown. */ this.requestUnlocated = false;
    /** Exchange ids whose answer holds a finding that could not be located. @type {Set<string>} */ this.answerUnlocated = new Set();
  }

  /** @param {string} value @param {Json} f */
  add(value, f) {
    if (!value) return;
    // The value as it appears in JSON text too (quotes, backslashes, control characters escaped).
    for (const v of new Set([value, JSON.stringify(value).slice(1, -1)])) {
      if (this.values.includes(v)) continue;
      this.values.push(v);
      this.labels.push({ type: str(f.type) || 'FINDING', action: str(f.action), rule: str(f.rule) });
    }
    this.re = null;
  }

  /**
   * Every finding of an exchange, located in what was recorded.
   * @param {Json} x
   */
  addExchange(x) {
    for (const f of list(x.findings)) {
      // A blocked request is recorded with `[TYPE]` in place of the value: nothing to locate.
      if (f.action === 'block') continue;
      const text = atPath(x.client_request, f.path);
      const v = text !== undefined && typeof f.start === 'number' && typeof f.end === 'number' && f.start >= 0 && f.end <= text.length && f.start < f.end ? text.slice(f.start, f.end) : undefined;
      if (v === undefined) this.requestUnlocated = true;
      else this.add(v, f);
    }
    const events = list(x.events);
    // Response offsets are in what the provider sent: the provider's events where the gateway rewrote them.
    const answer = events.length > 0 ? streamedAnswer(events, { upstream: true }).shape : x.response;
    for (const f of list(x.response_findings)) {
      if (f.action === 'block') continue;
      const text = atPath(answer, f.path);
      const v = text !== undefined && typeof f.start === 'number' && typeof f.end === 'number' && f.start >= 0 && f.end <= text.length && f.start < f.end ? text.slice(f.start, f.end) : undefined;
      if (v === undefined) this.answerUnlocated.add(str(x.id));
      else this.add(v, f);
    }
  }

  /**
   * The text with each hidden value replaced by its placeholder (one pass, longest value first).
   * @param {string} s
   */
  hide(s) {
    const clean = s.replace(/[\uE000\uE001]/g, '\uFFFD');
    if (this.values.length === 0) return clean;
    this.re ??= new RegExp([...this.values].sort((a, b) => b.length - a.length).map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
    return clean.replace(this.re, (m) => `${OPEN}${this.values.indexOf(m)}${CLOSE}`);
  }

  /**
   * How many characters at the end of a growing text could be the start of a hidden value (held back while an
   * answer streams in, so no part of a value is ever on the page).
   * @param {string} text
   */
  heldBack(text) {
    let held = 0;
    for (const v of this.values) {
      for (let k = Math.min(v.length - 1, text.length); k > held; k--) {
        if (text.endsWith(v.slice(0, k))) {
          held = k;
          break;
        }
      }
    }
    return held;
  }

  /**
   * Text as nodes: hidden values become a mark naming the finding's type and action, never its value.
   * @param {H} h @param {string} s
   * @returns {Child[]}
   */
  nodes(h, s) {
    return this.hide(s).split(/(\uE000\d+\uE001)/).map((piece) => {
      if (!ATOM.test(piece)) return piece;
      const l = this.labels[Number(piece.slice(1, -1))];
      const action = ACTION_WORDS[l.action] ?? l.action;
      const says = `${l.type}${action ? ` · ${action}` : ''}`;
      return h('mark', { class: `finding ${l.action}`, tabindex: '0', title: `${says}${l.rule ? ` by rule ${l.rule}` : ''} — value not shown`, 'data-type': l.type }, says);
    });
  }
}

/** @param {string} role */
const roleName = (role) => ({ system: 'System', developer: 'Developer', user: 'User', assistant: 'Assistant', tool: 'Tool', body: 'Body' })[role] ?? role;

/**
 * One message: who, then its parts (text, tool calls with arguments, tool results).
 * @param {H} h @param {Hidden} hidden @param {string} role @param {Part[]} parts @param {string} [extraClass]
 */
export function messageView(h, hidden, role, parts, extraClass = '') {
  return h('div', { class: `msg ${role} ${extraClass}`.trim(), role: 'group', 'aria-label': `${roleName(role)} message` },
    h('div', { class: 'who' }, roleName(role)),
    ...parts.map((p) => partView(h, hidden, p)));
}

/** @param {H} h @param {Hidden} hidden @param {Part} p */
export function partView(h, hidden, p) {
  if (p.kind === 'text') return h('div', { class: 'text' }, ...hidden.nodes(h, p.text));
  if (p.kind === 'tool_call') {
    return h('div', { class: 'tool-call' }, h('span', { class: 'label' }, 'calls tool '), h('code', { class: 'tool-name' }, ...hidden.nodes(h, p.name)),
      p.id ? h('span', { class: 'muted' }, ` (${p.id})`) : null, h('pre', { class: 'args' }, ...hidden.nodes(h, prettyArgs(p.args))));
  }
  if (p.kind === 'tool_result') return h('div', { class: 'tool-result' }, h('span', { class: 'label' }, `result of ${p.id || 'a tool call'}`), h('pre', {}, ...hidden.nodes(h, p.text)));
  return h('pre', { class: 'other' }, ...hidden.nodes(h, p.text));
}

/** Tool arguments are JSON text: shown indented when they parse. @param {string} args */
function prettyArgs(args) {
  try {
    return JSON.stringify(JSON.parse(args), null, 2);
  } catch {
    return args;
  }
}

/**
 * The conversation of one exchange: the request's messages, the tools offered, the answer.
 * @param {H} h @param {Hidden} hidden @param {Json} x
 */
export function conversationView(h, hidden, x) {
  if (hidden.requestUnlocated) return h('p', { class: 'error', role: 'note' }, 'The recorded bodies are not shown: a finding could not be located in them, and its value must not appear here.');
  if (x.client_request === null || x.client_request === undefined) return h('p', { class: 'muted' }, 'No body was recorded (recording.bodies is off, or retention removed it).');
  const { messages, tools } = requestConversation(x.client_request);
  const box = h('div', { class: 'conversation' });
  if (tools.length > 0) box.append(h('p', { class: 'tools muted' }, 'Tools offered: ', ...tools.flatMap((t, i) => [i ? ', ' : '', h('code', {}, ...hidden.nodes(h, t))])));
  for (const m of messages) box.append(messageView(h, hidden, m.role, m.parts));
  box.append(answerView(h, hidden, x));
  return box;
}

/** @param {H} h @param {Hidden} hidden @param {Json} x */
function answerView(h, hidden, x) {
  if (hidden.answerUnlocated.has(str(x.id))) return h('p', { class: 'error', role: 'note' }, 'The answer is not shown: a finding in it could not be located.');
  const events = list(x.events);
  const parts = events.length > 0 ? streamedAnswer(events).parts : responseParts(x.response);
  if (parts.length === 0) {
    return h('p', { class: 'muted answer-none' }, x.forwarded === false ? 'No answer: the request was not sent to the provider.' : x.status === 'completed' ? 'The answer holds no text.' : `No answer recorded (${str(x.status)}).`);
  }
  return messageView(h, hidden, 'assistant', parts, `answer${events.length > 0 ? ' streamed' : ''}`);
}

/** What a reason code means, in words (codes: src/policy/reasons.ts). */
const REASONS = /** @type {Record<string, string>} */ ({
  allowed_by_rule: 'allowed by rule',
  denied_by_rule: 'denied by rule',
  approval_required_by_rule: 'held for a human decision by rule',
  no_matching_rule: 'no rule matched, so it was denied (deny by default)',
  default_allow: 'no rule matched; this policy allows by default',
  feature_not_allowed: 'it used a feature its rule does not allow',
  sensitivity_not_allowed: 'its sensitivity is not allowed',
  sensitivity_rerouted: 'its sensitivity sent it to another model',
  sensitivity_label_invalid: 'it carried an unknown sensitivity label',
  evaluation_error: 'the policy could not be evaluated, so it was refused (fail closed)',
  observe_mode: 'the policy is in observe mode: the decision was recorded, not enforced',
  policy_unavailable: 'no valid policy version was active, so it was refused',
});
const EFFECTS = /** @type {Record<string, string>} */ ({ allow: 'Allowed', deny: 'Denied', require_approval: 'Held for approval' });

/**
 * The decision in words: the effect and each reason, every rule linked to the policy version that decided.
 * @param {H} h @param {Json} x
 */
export function decisionView(h, x) {
  const d = obj(x.decision);
  const version = str(d.policy_version);
  /** @param {string} rule */
  const ruleLink = (rule) => (version.startsWith('pv_') ? h('a', { href: `#/policies/${encodeURIComponent(version)}?rule=${encodeURIComponent(rule)}`, class: 'rule' }, rule) : h('code', { class: 'rule' }, rule));
  const out = h('div', { class: 'decision', id: 'decision' });
  if (!x.decision) {
    out.append(h('p', {}, x.error_code ? `Refused before a policy decision: ${str(x.error_code)}.` : 'No policy decision was recorded.'));
    return out;
  }
  const effect = EFFECTS[str(d.effect)] ?? str(d.effect);
  const reasons = list(d.reasons);
  const sentence = h('p', { class: 'because' }, h('strong', {}, effect), reasons.length ? ': ' : '.');
  reasons.forEach((r, i) => {
    sentence.append(i ? '; ' : '', REASONS[str(r.code)] ?? str(r.code));
    if (r.rule_id) sentence.append(' ', ruleLink(str(r.rule_id)));
    if (r.detail) sentence.append(` (${str(r.detail)})`);
  });
  if (reasons.length) sentence.append('.');
  out.append(sentence);
  const matched = /** @type {unknown[]} */ (Array.isArray(d.matched_rule_ids) ? d.matched_rule_ids : []).map(str).filter((r) => !reasons.some((x) => x.rule_id === r));
  if (matched.length) out.append(h('p', {}, 'Rules that also matched: ', ...matched.flatMap((r, i) => [i ? ', ' : '', ruleLink(r)])));
  out.append(h('p', { class: 'muted' }, 'Policy version ', version.startsWith('pv_') ? h('a', { href: `#/policies/${encodeURIComponent(version)}` }, version) : h('code', {}, version || 'unknown'),
    d.enforced === false ? ' (observe mode: not enforced)' : '', d.sensitivity ? `; sensitivity ${str(d.sensitivity)}` : '', '.'));
  if (d.approval_id) out.append(h('p', {}, 'Approval: ', h('a', { href: `#/approvals/${encodeURIComponent(str(d.approval_id))}` }, str(d.approval_id)), d.approval_outcome ? ` — ${str(d.approval_outcome)}` : ''));
  // An MCP call linked to the model answer that asked for it (docs/mcp.md#correlation-the-models-tool-call--the-mcp-call).
  const c = obj(x.correlation);
  if (typeof c.exchange_id === 'string' && typeof c.tool_call_id === 'string') {
    out.append(h('p', { id: 'correlation' }, 'Carries out tool call ', h('code', {}, c.tool_call_id), ' of the model answer ',
      h('a', { href: `#/exchanges/${encodeURIComponent(c.exchange_id)}` }, c.exchange_id), '.'));
  }
  const findings = /** @type {Json[]} */ ([...list(x.findings).map((f) => ({ ...f, where: 'request' })), ...list(x.response_findings).map((f) => ({ ...f, where: 'answer' }))]);
  if (findings.length) {
    out.append(h('p', {}, `Content controls: ${findings.length} finding${findings.length > 1 ? 's' : ''} — `, ...findings.flatMap((f, i) => [
      i ? '; ' : '', h('span', { class: 'finding-type' }, str(f.type)), ` in the ${str(f.where)} ${ACTION_WORDS[str(f.action)] ?? (str(f.action) || 'recorded')}`,
      f.rule ? ' by rule ' : '', f.rule ? ruleLink(str(f.rule)) : '']), '.'));
  }
  if (x.error_code) out.append(h('p', {}, `Error code: ${str(x.error_code)}.`));
  return out;
}

/**
 * What the gateway changed between the client's body and the body the provider received, as a line diff of the
 * indented JSON with word diffs inside changed lines. Hidden values stay hidden on both sides.
 * @param {H} h @param {Hidden} hidden @param {Json} x
 */
export function changesView(h, hidden, x) {
  if (x.forwarded === false) return h('p', { class: 'upstream-note' }, 'Not sent to the provider: the gateway refused this request.');
  if (x.forwarded !== true && x.upstream_request_modified !== true) return h('p', { class: 'upstream-note' }, 'Unknown whether it was sent: the exchange did not finish.');
  if (x.upstream_request_modified !== true) return h('p', { class: 'upstream-note' }, 'The provider received the same bytes the client sent.');
  if (hidden.requestUnlocated) return h('p', { class: 'error' }, 'The provider received a changed body; it is not shown (a finding could not be located).');
  /** @param {unknown} v */
  const lines = (v) => hidden.hide(typeof v === 'string' ? v : JSON.stringify(v, null, 2) ?? '').split('\n');
  const edits = diff(lines(x.client_request), lines(x.upstream_request));
  const table = h('div', { class: 'diff', id: 'body-diff', role: 'table', 'aria-label': 'client body (−) against upstream body (+)' });
  for (let i = 0; i < edits.length; i++) {
    const e = edits[i];
    if (e.op === ' ') {
      // Long unchanged runs fold to three lines of context on each side.
      let j = i;
      while (j < edits.length && edits[j].op === ' ') j++;
      const run = j - i;
      const keepHead = i === 0 ? 0 : 3, keepTail = j === edits.length ? 0 : 3;
      if (run > keepHead + keepTail + 1) {
        for (let k = i; k < i + keepHead; k++) table.append(diffLine(h, hidden, ' ', edits[k].text));
        table.append(h('div', { class: 'fold muted' }, `… ${run - keepHead - keepTail} unchanged lines …`));
        for (let k = j - keepTail; k < j; k++) table.append(diffLine(h, hidden, ' ', edits[k].text));
      } else for (let k = i; k < j; k++) table.append(diffLine(h, hidden, ' ', edits[k].text));
      i = j - 1;
      continue;
    }
    // A run of removed lines followed by as many added ones: paired, with the words that changed marked.
    let j = i;
    while (j < edits.length && edits[j].op === '-') j++;
    let k = j;
    while (k < edits.length && edits[k].op === '+') k++;
    if (j - i === k - j && j > i) {
      for (let n = 0; n < j - i; n++) table.append(...wordDiff(h, hidden, edits[i + n].text, edits[j + n].text));
      i = k - 1;
    } else table.append(diffLine(h, hidden, e.op, e.text));
  }
  return h('div', {}, h('p', {}, 'The gateway changed the request before sending it: ', h('del', {}, 'removed'), ' is what the client sent, ', h('ins', {}, 'added'), ' what the provider received.'), table);
}

/** @param {H} h @param {Hidden} hidden @param {' ' | '-' | '+'} op @param {string} text @param {Child[]} [content] */
function diffLine(h, hidden, op, text, content) {
  const cls = op === '-' ? 'del' : op === '+' ? 'ins' : 'same';
  return h('div', { class: `line ${cls}`, role: 'row' }, h('span', { class: 'op', 'aria-label': op === '-' ? 'removed' : op === '+' ? 'added' : 'unchanged' }, op), h('code', {}, ...(content ?? atomNodes(h, hidden, text))));
}

/** @param {H} h @param {Hidden} hidden @param {string} a @param {string} b */
function wordDiff(h, hidden, a, b) {
  const edits = diff(words(a, ATOM), words(b, ATOM));
  /** @param {'-' | '+'} side */
  const side = (side) => edits.filter((e) => e.op === ' ' || e.op === side).map((e) => {
    const shown = atomNodes(h, hidden, e.text);
    return e.op === ' ' ? h('span', {}, ...shown) : h(side === '-' ? 'del' : 'ins', {}, ...shown);
  });
  return [diffLine(h, hidden, '-', a, side('-')), diffLine(h, hidden, '+', b, side('+'))];
}

/** Text that may already hold placeholders: they become marks, the rest stays text. @param {H} h @param {Hidden} hidden @param {string} s */
function atomNodes(h, hidden, s) {
  return s.split(/(\uE000\d+\uE001)/).flatMap((piece) => (ATOM.test(piece) ? hidden.nodes(h, hidden.values[Number(piece.slice(1, -1))]) : [piece]));
}

/**
 * The recorded JSON bodies, for whoever needs the exact fields — with the same values hidden.
 * @param {H} h @param {Hidden} hidden @param {Json} x
 */
export function recordedBodies(h, hidden, x) {
  if (hidden.requestUnlocated) return null;
  const box = h('details', { class: 'recorded' }, h('summary', {}, 'Recorded bodies (JSON)'));
  /** @param {string} title @param {unknown} v */
  const body = (title, v) => (v === null || v === undefined ? null : h('div', {}, h('h3', {}, title), h('pre', {}, ...hidden.nodes(h, typeof v === 'string' ? v : JSON.stringify(v, null, 2)))));
  box.append(...[body('What the client sent', x.client_request), x.upstream_request_modified === true ? body('What the provider received', x.upstream_request) : null,
    hidden.answerUnlocated.has(str(x.id)) ? null : body('The answer', x.response)].filter((n) => n !== null));
  return box;
}
