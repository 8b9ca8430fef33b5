import type { AudienceBinding } from '../identity/authenticator.ts';
import type { McpConfig } from './config-schema.ts';

/**
 * Which JWTs an MCP endpoint accepts (docs/mcp.md#authorization). MCP authorization (2025-06-18 and 2025-11-25,
 * §Token Audience Binding and Validation) says a server MUST accept only tokens issued for it, the audience
 * being its canonical resource URI (RFC 8707 §2) — the `resource` of its protected resource metadata (RFC 9728 §2).
 * So a token obtained for another MCP server, for the LLM endpoints or for another service is refused, and a leaked
 * token for one server opens no other.
 */
export interface McpAudience {
  /** The canonical resource URI of an endpoint path (`/mcp/<server>`, the aggregated path). */
  resourceUri(resourcePath: string): string;
  /** What a JWT presented at `resourcePath` must name in `aud`; `server` adds that server's `audience` list. */
  bindingFor(resourcePath: string, server?: string): AudienceBinding;
  /**
   * The scopes a JWT must grant at an endpoint (docs/mcp.md#required-scopes): `mcp.required_scopes`, and with `server`
   * that server's `required_scopes` too. The aggregated endpoint passes no server: the global list.
   */
  scopesFor(server?: string): readonly string[];
}

export function mcpAudience(cfg: Pick<McpConfig, 'audience' | 'servers' | 'required_scopes'>, publicUrl: () => string): McpAudience {
  const perServer = new Map(cfg.servers.map((s) => [s.name, s.audience]));
  const scopes = new Map(cfg.servers.map((s) => [s.name, [...new Set([...cfg.required_scopes, ...s.required_scopes])]]));
  const everywhere = Array.isArray(cfg.audience) ? cfg.audience : [];
  const resourceUri = (resourcePath: string): string => canonicalResourceUri(publicUrl(), resourcePath);
  return {
    resourceUri,
    bindingFor(resourcePath, server) {
      const extra = server === undefined ? [] : (perServer.get(server) ?? []);
      return { accept: [resourceUri(resourcePath), ...everywhere, ...extra], identity: cfg.audience === 'identity' };
    },
    scopesFor: (server) => (server === undefined ? cfg.required_scopes : (scopes.get(server) ?? cfg.required_scopes)),
  };
}

/**
 * MCP authorization §Canonical Server URI: scheme and host lower case, no fragment, no trailing slash — what a client
 * puts in `resource` and the authorization server in `aud`. Matching is exact on this form (RFC 7519 §4.1.3 compares
 * strings), so the gateway's `server.public_url` must be the URL clients use.
 */
export function canonicalResourceUri(publicUrl: string, resourcePath: string): string {
  const u = new URL(publicUrl.replace(/\/+$/, '') + resourcePath);
  u.hash = '';
  return u.href.replace(/\/+$/, '');
}
