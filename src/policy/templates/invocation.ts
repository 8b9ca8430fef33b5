import { isUtf8 } from 'node:buffer';
import { GatewayError } from '../../core/errors.ts';

/**
 * How a client invokes an approved template (docs/templates.md), the same for OpenAI and Anthropic shapes:
 *   headers  `x-portcullis-template: ID[@VERSION]` and `x-portcullis-template-vars: {"name": "value"}`
 *            (JSON; `b64:` + base64url(JSON) for non-ASCII values, since header values are ISO-8859-1);
 *   or body  `metadata.portcullis_template` and `metadata.portcullis_template_vars` (a JSON string, as OpenAI
 *            metadata values are strings; an object is accepted too).
 * The gateway removes these before forwarding. The request carries no prompt of its own: the template is the
 * prompt (messages / input / system come from it; model, max_tokens, temperature, stream, tools… from the client).
 */
export interface TemplateRequest {
  readonly endpoint: { readonly id: string };
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Readonly<Record<string, unknown>>;
}

export interface TemplateInvocation {
  id: string;
  /** undefined: the latest version. */
  version: number | undefined;
  vars: Record<string, unknown>;
}

export const TEMPLATE_HEADER = 'x-portcullis-template';
export const TEMPLATE_VARS_HEADER = 'x-portcullis-template-vars';
const META_ID = 'portcullis_template';
const META_VARS = 'portcullis_template_vars';
const MAX_VARS_BYTES = 64 * 1024;

function header(req: TemplateRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function metadata(req: TemplateRequest): Record<string, unknown> | undefined {
  const m = req.body.metadata;
  return m !== null && typeof m === 'object' && !Array.isArray(m) ? (m as Record<string, unknown>) : undefined;
}

/** True when the request names a template (valid or not): anything else is a free-form prompt. */
export function isTemplateInvocation(req: TemplateRequest): boolean {
  return header(req, TEMPLATE_HEADER) !== undefined || metadata(req)?.[META_ID] !== undefined;
}

const bad = (message: string): GatewayError => new GatewayError('invalid_request', message, { details: { param: 'template' } });

function parseRef(ref: unknown): { id: string; version: number | undefined } {
  if (typeof ref !== 'string') throw bad('The template reference must be a string "ID" or "ID@VERSION".');
  const m = /^([a-z0-9][a-z0-9._-]{0,63})(?:@([1-9][0-9]{0,8}))?$/.exec(ref.trim());
  if (!m) throw bad('The template reference must look like "ID" or "ID@VERSION".');
  return { id: m[1]!, version: m[2] === undefined ? undefined : Number(m[2]) };
}

/**
 * Node reads header values as ISO-8859-1 (RFC 9110 §5.5 obs-text): UTF-8 bytes sent raw would be read as other
 * characters than the client meant, so non-ASCII in the header form must come as `b64:` (docs/templates.md).
 */
const NON_ASCII = /[^\x00-\x7f]/;

function parseVars(raw: unknown, fromHeader: boolean): Record<string, unknown> {
  if (raw === undefined) return {};
  let v: unknown = raw;
  if (typeof raw === 'string') {
    if (raw.length > MAX_VARS_BYTES) throw bad('Template variables are too large.');
    if (fromHeader && NON_ASCII.test(raw)) throw bad('Template variables in the header must be ASCII; send non-ASCII values as b64: + base64url(JSON).');
    const text = raw.startsWith('b64:') ? decodeB64(raw.slice(4)) : raw;
    try {
      v = JSON.parse(text) as unknown;
    } catch {
      throw bad('Template variables must be a JSON object.');
    }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad('Template variables must be a JSON object.');
  return v as Record<string, unknown>;
}

/** `b64:` variables are base64url of UTF-8 JSON; invalid UTF-8 is refused, never replaced (docs/templates.md). */
function decodeB64(s: string): string {
  const bytes = Buffer.from(s, 'base64url');
  if (!isUtf8(bytes)) throw bad('Template variables (b64:) are not valid UTF-8.');
  return bytes.toString('utf8');
}

/** The invocation, or undefined for a free-form request. Throws a 400 GatewayError when it is malformed. */
export function readInvocation(req: TemplateRequest): TemplateInvocation | undefined {
  if (!isTemplateInvocation(req)) return undefined;
  const meta = metadata(req);
  const h = header(req, TEMPLATE_HEADER);
  if (h !== undefined && meta?.[META_ID] !== undefined && h.trim() !== meta[META_ID]) throw bad('The template header and metadata name different templates.');
  const ref = parseRef(h ?? meta?.[META_ID]);
  const hv = header(req, TEMPLATE_VARS_HEADER);
  if (hv !== undefined && meta?.[META_VARS] !== undefined) throw bad('Send template variables either in the header or in metadata, not both.');
  return { ...ref, vars: hv !== undefined ? parseVars(hv, true) : parseVars(meta?.[META_VARS], false) };
}

export interface RenderedPrompt {
  system: string | undefined;
  messages: { role: 'user' | 'assistant'; content: string }[];
}

const present = (v: unknown): boolean => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) && v !== '';

/** A copy of the client's body with the invocation removed and the rendered prompt in the endpoint's shape. */
export function applyRendered(req: TemplateRequest, r: RenderedPrompt): Record<string, unknown> {
  const body: Record<string, unknown> = { ...req.body };
  const meta = metadata(req);
  if (meta) {
    const { [META_ID]: _id, [META_VARS]: _vars, ...rest } = meta;
    if (Object.keys(rest).length > 0) body.metadata = rest;
    else delete body.metadata;
  }
  const own = (k: string): void => {
    if (present(req.body[k])) throw bad(`A template invocation carries no \`${k}\` of its own: the template is the prompt.`);
  };
  switch (req.endpoint.id) {
    case 'openai.chat':
      own('messages');
      body.messages = [...(r.system === undefined ? [] : [{ role: 'system', content: r.system }]), ...r.messages];
      return body;
    case 'openai.responses':
      own('input');
      if (r.system !== undefined) {
        own('instructions');
        body.instructions = r.system;
      }
      body.input = r.messages.map((m) => ({ role: m.role, content: m.content }));
      return body;
    case 'anthropic.messages':
    case 'anthropic.count_tokens':
      own('messages');
      if (r.system !== undefined) {
        own('system');
        body.system = r.system;
      }
      body.messages = r.messages;
      return body;
    default:
      throw bad('Templates can be used with /v1/chat/completions, /v1/responses and /v1/messages.');
  }
}
