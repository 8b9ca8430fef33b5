import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Prompt, ReadResourceResult, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';

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

const cursorOf = (cursor: string | undefined): { cursor: string } | undefined => (cursor ? { cursor } : undefined);

export const TOOLS: MemberList<Tool> = {
  page: async (c, cursor) => {
    const r = await c.listTools(cursorOf(cursor));
    return { items: r.tools, nextCursor: r.nextCursor };
  },
  rename: (prefix, t) => ({ ...t, name: `${prefix}${t.name}` }),
};

export const PROMPTS: MemberList<Prompt> = {
  page: async (c, cursor) => {
    const r = await c.listPrompts(cursorOf(cursor));
    return { items: r.prompts, nextCursor: r.nextCursor };
  },
  rename: (prefix, p) => ({ ...p, name: `${prefix}${p.name}` }),
};

export const RESOURCES: MemberList<Resource> = {
  page: async (c, cursor) => {
    const r = await c.listResources(cursorOf(cursor));
    return { items: r.resources, nextCursor: r.nextCursor };
  },
  rename: (prefix, r) => ({ ...r, uri: `${prefix}${r.uri}` }),
};

export const TEMPLATES: MemberList<ResourceTemplate> = {
  page: async (c, cursor) => {
    const r = await c.listResourceTemplates(cursorOf(cursor));
    return { items: r.resourceTemplates, nextCursor: r.nextCursor };
  },
  rename: (prefix, t) => ({ ...t, uriTemplate: `${prefix}${t.uriTemplate}` }),
};

/** A read's contents carry the member's URIs: given back under the aggregated names the agent asked with. */
export function renameContents(prefix: string, r: ReadResourceResult): ReadResourceResult {
  return { ...r, contents: r.contents.map((c) => ({ ...c, uri: `${prefix}${c.uri}` })) };
}
