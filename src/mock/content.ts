/** Pulls the last user text out of each API's request shape: the mock echoes it so tests see what arrived. */
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (isObj(p) && typeof p.text === 'string' ? p.text : isObj(p) && p.type === 'tool_result' ? textOf(p.content) : ''))
      .filter(Boolean)
      .join(' ');
  }
  return '';
}

export function lastUserText(body: Obj): string {
  if (typeof body.input === 'string') return body.input;
  if (Array.isArray(body.input)) {
    const items = body.input.filter((i): i is Obj => isObj(i) && (i.role === 'user' || i.type === 'function_call_output'));
    const last = items[items.length - 1];
    if (last) return typeof last.output === 'string' ? last.output : textOf(last.content);
  }
  if (typeof body.prompt === 'string') return body.prompt;
  if (Array.isArray(body.messages)) {
    const users = body.messages.filter((m): m is Obj => isObj(m) && (m.role === 'user' || m.role === 'tool'));
    const last = users[users.length - 1];
    if (last) return textOf(last.content);
  }
  return '';
}

/** Whether to answer with a tool call: tools present and the prompt mentions the weather, or a forced choice. */
export function wantsTool(body: Obj, text: string): string | undefined {
  const tools = Array.isArray(body.tools) ? (body.tools as Obj[]) : [];
  if (tools.length === 0) return undefined;
  const forced = body.tool_choice;
  if (!/weather/i.test(text) && !(isObj(forced) && (forced.type === 'function' || forced.type === 'tool'))) return undefined;
  const t = tools[0]!;
  const fn = isObj(t.function) ? t.function : t;
  return typeof fn.name === 'string' ? fn.name : 'tool';
}

export function echoExtras(body: Obj): Obj {
  return body.x_unknown_field === undefined ? {} : { x_unknown_echo: body.x_unknown_field };
}
