/**
 * The `mcp:` config section (docs/configuration.md#mcp): the upstream MCP servers the gateway fronts at
 * `/mcp/<name>`. An upstream's credential lives only here (a secret reference) or in the sealed credential store
 * (`credential: store`); the client's own credential never goes upstream.
 */
export type McpTransportKind = 'streamable-http' | 'sse' | 'stdio';

export interface McpServerConfig {
  name: string;
  /** How the gateway reaches the server: `streamable-http` (default with `url`), `sse` (2024-11-05), `stdio` (default with `command`). */
  transport?: McpTransportKind;
  /** HTTP endpoint of the upstream server (Streamable HTTP endpoint, or the legacy transport's SSE endpoint). */
  url?: string;
  /** stdio: the program the gateway launches (one process per MCP session), its arguments, working directory. */
  command?: string;
  args: string[];
  cwd?: string;
  /** stdio: environment of the process; values are secret references (`env:X`, `file:P`, `${X}`) or literal text. */
  env: Record<string, string>;
  /** stdio: the environment variable that receives `credential` (sealed store or reference) instead of a header. */
  credential_env?: string;
  /** stdio: supervision of the server's processes. */
  stdio: { max_processes: number; idle_session_ms: number; backoff_initial_ms: number; backoff_max_ms: number };
  /** Secret reference (`env:X`, `file:P`, `${X}`) or `store` (set with `PUT /admin/v1/mcp/servers/<name>/credential`). */
  credential?: string;
  /** Header that carries the credential (default `authorization`). */
  credential_header: string;
  /** Prefix of the credential value (default `Bearer`; empty: the raw value). */
  credential_scheme: string;
  timeouts: { first_byte_ms: number; idle_ms: number };
  /** More `aud` values a JWT presented at `/mcp/<name>` may name besides its resource URI (docs/mcp.md#authorization). */
  audience: string[];
  /** Scopes a JWT presented at `/mcp/<name>` must carry besides `mcp.required_scopes` (docs/mcp.md#required-scopes). */
  required_scopes: string[];
  /** Servers of one token domain restore each other's tokenization placeholders (default: the server's own name). */
  token_domain?: string;
}

/** One endpoint for several servers: tools and prompts namespaced `<server><separator><name>`, resource URIs `<server><separator><uri>` (docs/mcp.md#aggregated-endpoint). */
export interface McpAggregateConfig {
  path: string;
  /** Member servers (globs over `mcp.servers[].name`). */
  servers: string[];
  separator: string;
  idle_session_ms: number;
}

export interface McpConfig {
  servers: McpServerConfig[];
  /** Absent: no aggregated endpoint. */
  aggregate?: McpAggregateConfig;
  /** Largest JSON-RPC message a client may POST. */
  max_body_bytes: number;
  /** Largest JSON answer or single SSE event an upstream server may send. */
  max_response_bytes: number;
  /** Advertised in protected resource metadata (RFC 9728 `authorization_servers`). */
  authorization_servers: string[];
  /** How old a model's tool call may be for an MCP call to be linked to it (docs/mcp.md#correlation); older notes are deleted. */
  correlation_window_ms: number;
  /** Advertised in protected resource metadata (RFC 9728 `scopes_supported`, with the required scopes); empty: not advertised. */
  scopes_supported: string[];
  /** Scopes a JWT must carry (`scope`/`scp`) on every MCP endpoint, the aggregated one included (docs/mcp.md#required-scopes). */
  required_scopes: string[];
  /**
   * Which JWTs an MCP endpoint accepts (docs/mcp.md#authorization): `resource` — only tokens issued for it (`aud` names
   * its resource URI, RFC 8707), `identity` — also those the identity config accepts for the LLM endpoints, or a list
   * of further audiences accepted on every MCP endpoint.
   */
  audience: 'resource' | 'identity' | string[];
  /** How long a replica trusts its cached copy of a server's pinned catalogue (another replica may accept a new one). */
  pin_cache_ms: number;
  /** Who may restore an MCP placeholder: `caller` (the identity, any session, the server's token domain) or `session`. */
  tokenize_scope: 'caller' | 'session';
}

/** The configured transport, or the one `url`/`command` implies. */
export function mcpTransportOf(s: Pick<McpServerConfig, 'transport' | 'command'>): McpTransportKind {
  return s.transport ?? (s.command !== undefined ? 'stdio' : 'streamable-http');
}

/** An `aud` value (RFC 7519 §4.1.3: a string, usually a URI); not `resource`/`identity`, which name the modes. */
const audienceValue = { type: 'string', minLength: 1, maxLength: 512, not: { enum: ['resource', 'identity'] } } as const;

/** A scope token (RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`), bounded in length. */
const scopeToken = { type: 'string', pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]{1,128}$' } as const;
const scopeList = { type: 'array', items: scopeToken, maxItems: 64, uniqueItems: true, default: [] } as const;

const timeoutMs = { type: 'integer', minimum: 1, maximum: 86_400_000 } as const;

export const mcpConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    servers: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        // Exactly one of url (HTTP transports) and command (stdio).
        oneOf: [{ required: ['url'] }, { required: ['command'] }],
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'exposed at /mcp/<name>' },
          transport: { enum: ['streamable-http', 'sse', 'stdio'], description: 'default: stdio with command, else streamable-http' },
          url: { type: 'string', pattern: '^https?://', description: 'the upstream Streamable HTTP endpoint (or SSE endpoint with transport: sse)' },
          command: { type: 'string', minLength: 1, description: 'stdio: the program to launch' },
          args: { type: 'array', items: { type: 'string' }, default: [] },
          cwd: { type: 'string', minLength: 1 },
          env: { type: 'object', additionalProperties: { type: 'string' }, propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' }, default: {} },
          credential_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$', description: 'stdio: env variable that receives the credential' },
          stdio: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              max_processes: { type: 'integer', minimum: 1, maximum: 10_000, default: 32, description: 'live sessions (one process each)' },
              idle_session_ms: { ...timeoutMs, default: 1_800_000, description: 'a session idle this long is ended and its process stopped' },
              backoff_initial_ms: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 1_000, description: 'pause after a crash' },
              backoff_max_ms: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 60_000, description: 'cap of the doubling pause' },
            },
          },
          credential: { type: 'string', minLength: 1, description: 'secret reference, or `store`' },
          credential_header: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$', default: 'authorization' },
          credential_scheme: { type: 'string', pattern: '^[A-Za-z0-9._-]{0,32}$', default: 'Bearer' },
          audience: { type: 'array', items: audienceValue, default: [], description: 'more accepted JWT audiences for this server' },
          required_scopes: { ...scopeList, description: 'scopes a JWT must carry here besides mcp.required_scopes (RFC 6749 §3.3 scope tokens)' },
          token_domain: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'servers of one domain restore each other\'s placeholders (default: the server alone)' },
          timeouts: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              first_byte_ms: { ...timeoutMs, default: 120_000, description: 'until the upstream answers a request' },
              idle_ms: { ...timeoutMs, default: 300_000, description: 'max silence in a response stream (SSE)' },
            },
          },
        },
      },
    },
    aggregate: {
      type: 'object',
      additionalProperties: false,
      properties: {
        path: { type: 'string', pattern: '^/[a-z0-9_-]+(/[a-z0-9_-]+)*$', default: '/mcp', description: 'where the aggregated endpoint is served' },
        servers: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, default: ['*'], description: 'member servers (globs)' },
        // Tool names are A-Z a-z 0-9 _ - . (MCP 2025-11-25 §Tool names); the separator must not occur in a member's name.
        separator: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,8}$', default: '__' },
        idle_session_ms: { ...timeoutMs, default: 1_800_000, description: 'an aggregated session idle this long is ended' },
      },
    },
    max_body_bytes: { type: 'integer', minimum: 1024, maximum: 64 * 1024 * 1024, default: 4 * 1024 * 1024 },
    max_response_bytes: { type: 'integer', minimum: 1024, maximum: 256 * 1024 * 1024, default: 16 * 1024 * 1024 },
    authorization_servers: { type: 'array', items: { type: 'string', pattern: '^https?://' }, default: [] },
    pin_cache_ms: { type: 'integer', minimum: 0, maximum: 600_000, default: 2_000 },
    correlation_window_ms: { type: 'integer', minimum: 1_000, maximum: 604_800_000, default: 3_600_000, description: 'link an MCP call to a model tool call at most this old (1 s … 7 days)' },
    scopes_supported: { type: 'array', items: scopeToken, default: [], description: 'RFC 6749 §3.3 scope tokens' },
    required_scopes: { ...scopeList, description: 'scopes a JWT must carry on every MCP endpoint (RFC 6749 §3.3 scope tokens)' },
    audience: {
      default: 'resource',
      oneOf: [{ enum: ['resource', 'identity'] }, { type: 'array', items: audienceValue, minItems: 1 }],
      description: 'which JWT audiences MCP endpoints accept',
    },
    tokenize_scope: { enum: ['caller', 'session'], default: 'caller', description: 'who may restore an MCP placeholder (docs/mcp.md#tokenization)' },
  },
} as const;
