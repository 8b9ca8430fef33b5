/**
 * Text for a terminal from untrusted data (recorded models, user agents, subjects, bodies, gateway errors).
 * A terminal acts on control characters: ESC starts CSI/OSC sequences (ECMA-48) that clear the screen, move the
 * cursor, set the window title or write to the clipboard; CR and LF let a value overwrite or forge lines; BEL,
 * BS and DEL alter what is seen; the C1 range (U+0080–U+009F) holds 8-bit CSI/OSC forms; bidi controls (Unicode
 * UAX #9: U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C) reorder what is displayed ("Trojan Source").
 * Each is shown visibly instead, as `\xHH` (up to U+00FF) or `\uHHHH`, so nothing in the data reaches the
 * terminal as a control, and an auditor sees that it was there.
 */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// The same set without LF and TAB: for multi-line documents whose line structure is their content.
const CONTROLS_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// What JSON.stringify leaves raw inside strings (it escapes only U+0000–U+001F): DEL, C1, bidi, line separators.
const JSON_RAW_CONTROLS = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const visible = (c: string): string => {
  const n = c.charCodeAt(0);
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
};
const jsonEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** One line of terminal text: every control character (LF, CR and TAB included) shown as an escape. */
export function terminalLine(text: string): string {
  return text.replace(CONTROLS, visible);
}

/** A multi-line document (a policy's YAML, a diff, a scanned text): lines and tabs kept, every other control escaped. */
export function terminalText(text: string): string {
  return text.replace(CONTROLS_BUT_LINES, visible);
}

/**
 * JSON for a terminal: `JSON.stringify` escapes U+0000–U+001F but leaves DEL, C1 and bidi controls raw; they
 * can only occur inside strings, where `\uHHHH` is the same value (RFC 8259 §7), so the output parses the same.
 */
export function terminalJson(value: unknown, indent?: number): string {
  return terminalJsonText(JSON.stringify(value, null, indent) ?? 'null');
}

/** JSON text already serialized by `JSON.stringify` (a JSONL export line), made terminal-safe the same lossless way. */
export function terminalJsonText(json: string): string {
  return json.replace(JSON_RAW_CONTROLS, jsonEscape);
}

/**
 * One CSV record (RFC 4180) for a terminal: its closing CRLF kept (harmless: the line ends there), every control
 * inside a cell — a quoted CR or LF included, which would let a value overwrite or forge a line — shown escaped.
 */
export function terminalCsvRecord(record: string): string {
  const body = record.endsWith('\r\n') ? record.slice(0, -2) : record;
  return `${terminalLine(body)}${body.length === record.length ? '' : '\r\n'}`;
}
