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
    if (last) return typeof last.output === 'string' ? last.output : textOf(last.output ?? last.content);
  }
  if (typeof body.prompt === 'string') return body.prompt;
  if (Array.isArray(body.messages)) {
    const users = body.messages.filter((m): m is Obj => isObj(m) && (m.role === 'user' || m.role === 'tool'));
    const last = users[users.length - 1];
    if (last) return textOf(last.content);
  }
  return '';
}

/** The tool the mock calls: its name, and for a Responses API `namespace` tool (Codex's MCP servers) the namespace. */
export interface MockToolChoice {
  name: string;
  namespace?: string;
}

/** Every offered function with its namespace (Responses API `{type: "namespace", name, tools: [...]}` groups them). */
function offeredTools(tools: Obj[]): MockToolChoice[] {
  return tools.flatMap((t): MockToolChoice[] => {
    if (t.type === 'namespace' && typeof t.name === 'string' && Array.isArray(t.tools)) {
      const namespace = t.name;
      return (t.tools as unknown[]).filter(isObj).flatMap((m) => (typeof m.name === 'string' ? [{ name: m.name, namespace }] : []));
    }
    const fn = isObj(t.function) ? t.function : t;
    return [{ name: typeof fn.name === 'string' ? fn.name : 'tool' }];
  });
}

/**
 * Whether the conversation's last turn hands back a tool result (Responses `function_call_output`, chat `role: tool`,
 * Anthropic `tool_result`): the mock then answers in text, as a model would, so an agent's loop ends.
 */
function endsWithToolResult(body: Obj): boolean {
  const items = Array.isArray(body.input) ? body.input : Array.isArray(body.messages) ? body.messages : [];
  const last: unknown = items[items.length - 1];
  if (!isObj(last)) return false;
  if (last.type === 'function_call_output' || last.role === 'tool') return true;
  return Array.isArray(last.content) && last.content.some((p) => isObj(p) && p.type === 'tool_result');
}

/**
 * Whether to answer with a tool call: tools present and the prompt mentions the weather (unless a tool result was
 * just handed back), or a forced choice. The
 * call names the first offered tool whose name mentions the weather, else the first tool (agents such as Codex CLI
 * put their own tools before MCP ones).
 */
export function wantsTool(body: Obj, text: string): MockToolChoice | undefined {
  const tools = Array.isArray(body.tools) ? (body.tools as Obj[]) : [];
  if (tools.length === 0) return undefined;
  const forced = isObj(body.tool_choice) && (body.tool_choice.type === 'function' || body.tool_choice.type === 'tool');
  if (!forced && (!/weather/i.test(text) || endsWithToolResult(body))) return undefined;
  const offered = offeredTools(tools);
  return offered.find((t) => /weather/i.test(t.name)) ?? offered[0];
}

export function echoExtras(body: Obj): Obj {
  return body.x_unknown_field === undefined ? {} : { x_unknown_echo: body.x_unknown_field };
}
