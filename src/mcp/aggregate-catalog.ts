import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { GetPromptResult, Prompt, ReadResourceResult, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';

/**
 * What the aggregated endpoint lists from one member, and how its names are namespaced (docs/mcp.md#aggregated-
 * endpoint). Tools and prompts are `<server><sep><name>`; resources keep the member's URI behind the same prefix
 * (`tools__file:///readme.md`, templates `tools__file:///{path}`): stateless and reversible — a URI the agent
 * builds from a template routes like a listed one, two members may use the same URI, and nothing depends on a
 * list having been fetched in this session (a per-session URI → server map would fail on all three).
 */
export interface MemberList<T> {
  page(client: Client, cursor: string | undefined): Promise<{ items: T[]; nextCursor?: string | undefined }>;
  rename(prefix: string, item: T): T;
}

function memberList<R extends { nextCursor?: string | undefined }, T>(
  list: (c: Client, params: { cursor: string } | undefined) => Promise<R>, items: (r: R) => T[], rename: (prefix: string, item: T) => T,
): MemberList<T> {
  return {
    page: async (c, cursor) => {
      const r = await list(c, cursor ? { cursor } : undefined);
      return { items: items(r), nextCursor: r.nextCursor };
    },
    rename,
  };
}

export const TOOLS = memberList((c, p) => c.listTools(p), (r) => r.tools, (prefix, t: Tool) => ({ ...t, name: `${prefix}${t.name}` }));
export const PROMPTS = memberList((c, p) => c.listPrompts(p), (r) => r.prompts, (prefix, x: Prompt) => ({ ...x, name: `${prefix}${x.name}` }));
export const RESOURCES = memberList((c, p) => c.listResources(p), (r) => r.resources, (prefix, x: Resource) => ({ ...x, uri: `${prefix}${x.uri}` }));
export const TEMPLATES = memberList((c, p) => c.listResourceTemplates(p), (r) => r.resourceTemplates, (prefix, x: ResourceTemplate) => ({ ...x, uriTemplate: `${prefix}${x.uriTemplate}` }));

/** A read's contents carry the member's URIs: given back under the aggregated names the agent asked with. */
export function renameContents(prefix: string, r: ReadResourceResult): ReadResourceResult {
  return { ...r, contents: r.contents.map((c) => ({ ...c, uri: `${prefix}${c.uri}` })) };
}

/**
 * Resource URIs inside content (a tool result's or a prompt message's `resource_link` and embedded `resource`
 * blocks) under the member's prefix, so the agent can read them back through the aggregated endpoint: a member's
 * own URI would name no resource there (reads route by prefix).
 */
export function prefixContentUris(prefix: string, block: unknown): unknown {
  if (typeof block !== 'object' || block === null) return block;
  const b = block as Record<string, unknown>;
  if (b.type === 'resource_link' && typeof b.uri === 'string') return { ...b, uri: `${prefix}${b.uri}` };
  const res = b.resource as Record<string, unknown> | undefined;
  if (b.type === 'resource' && typeof res === 'object' && res !== null && typeof res.uri === 'string') return { ...b, resource: { ...res, uri: `${prefix}${res.uri}` } };
  return block;
}

export function prefixToolResult<T extends Record<string, unknown>>(prefix: string, r: T): T {
  return Array.isArray(r.content) ? { ...r, content: r.content.map((b) => prefixContentUris(prefix, b)) } : r;
}

export function prefixPromptResult(prefix: string, r: GetPromptResult): GetPromptResult {
  return { ...r, messages: r.messages.map((m) => ({ ...m, content: prefixContentUris(prefix, m.content) as typeof m.content })) };
}
