// @ts-check
/**
 * A line diff with word diffs inside changed lines, for "what the gateway changed between the client's body and the
 * upstream body" (docs/console.md). Myers' O(ND) algorithm (E. W. Myers, "An O(ND) Difference Algorithm and Its
 * Variations", Algorithmica 1986) on what is left after the common prefix and suffix are cut off — a gateway's
 * changes are few (a masked value, a rerouted model), so D stays small. Past MAX_D edits it gives up on precision
 * (everything in between shows as removed, then added) rather than on memory.
 */

/** @typedef {{ op: ' ' | '-' | '+', text: string }} Edit */

const MAX_D = 2000;

/**
 * @param {readonly string[]} a @param {readonly string[]} b
 * @returns {Edit[]}
 */
export function diff(a, b) {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  /** @type {Edit[]} */
  const out = a.slice(0, pre).map((text) => ({ op: ' ', text }));
  out.push(...middle(a.slice(pre, a.length - suf), b.slice(pre, b.length - suf)));
  out.push(...a.slice(a.length - suf).map((text) => /** @type {Edit} */ ({ op: ' ', text })));
  return out;
}

/** @param {readonly string[]} a @param {readonly string[]} b @returns {Edit[]} */
function middle(a, b) {
  const n = a.length, m = b.length, off = n + m + 1;
  const everything = () => [...a.map((text) => /** @type {Edit} */ ({ op: '-', text })), ...b.map((text) => /** @type {Edit} */ ({ op: '+', text }))];
  if (n === 0 || m === 0) return everything();
  const v = new Int32Array(2 * off + 1);
  /** @type {Int32Array[]} */
  const trace = [];
  for (let d = 0; d <= Math.min(n + m, MAX_D); d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; }
      v[off + k] = x;
      if (x >= n && y >= m) return backtrack(trace, a, b, off);
    }
  }
  return everything();
}

/** @param {Int32Array[]} trace @param {readonly string[]} a @param {readonly string[]} b @param {number} off */
function backtrack(trace, a, b, off) {
  /** @type {Edit[]} */
  const rev = [];
  let x = a.length, y = b.length;
  for (let d = trace.length - 1; d >= 0; d--) {
    const v = trace[d];
    const k = x - y;
    const prevK = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? k + 1 : k - 1;
    const prevX = v[off + prevK], prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      y--;
      rev.push({ op: ' ', text: a[--x] });
    }
    if (d > 0) {
      if (x === prevX) rev.push({ op: '+', text: b[--y] });
      else rev.push({ op: '-', text: a[--x] });
    }
  }
  return rev.reverse();
}

/**
 * Words, runs of space and single punctuation; `atom` (a placeholder standing for one hidden value) stays whole.
 * @param {string} line @param {RegExp} atom
 */
export function words(line, atom) {
  return line.match(new RegExp(`${atom.source}|[\\p{L}\\p{N}_]+|\\s+|[^\\p{L}\\p{N}_\\s]`, 'gu')) ?? [];
}
