import assert from 'node:assert/strict';

/** Any control character a terminal acts on other than LF (C0, DEL, C1, bidi, line separators): what the CLI must never print raw. */
export const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

export function assertTerminalSafe(text: string, what: string): void {
  const m = RAW_CONTROL.exec(text);
  const at = m?.index ?? 0;
  assert.equal(m, null, `${what} printed a raw U+${m?.[0].charCodeAt(0).toString(16).padStart(4, '0')} at ${at}: ${JSON.stringify(text.slice(Math.max(0, at - 40), at + 40))}`);
}
