/**
 * The gateway config (YAML). This JSON Schema is the single source of truth: ajv validates and fills defaults
 * from it, and docs/configuration.md documents every key in it. Errors name the key path.
 */
import { identityConfigSchema, type IdentityConfig } from '../identity/config-schema.ts';
import { policyConfigSchema, type PolicyConfig } from '../policy/config-schema.ts';
import { eventsConfigSchema, type EventsConfig } from '../events/config-schema.ts';
import { auditConfigSchema, type AuditConfig } from '../audit/config-schema.ts';
import { approvalsConfigSchema, type ApprovalsConfig } from '../approvals/config-schema.ts';
import { detectionConfigSchema, type DetectionConfig } from '../detect/config-schema.ts';
import { analyticsConfigSchema, type AnalyticsConfig } from '../analytics/config-schema.ts';
import { alertsConfigSchema, type AlertsConfig } from '../alerts/config-schema.ts';
import { storeConfigSchema, type StoreConfig } from '../store/config-schema.ts';
import { mcpConfigSchema, type McpConfig } from '../mcp/config-schema.ts';

export const PROVIDER_TYPES = ['openai', 'anthropic', 'azure-openai', 'openai-compatible', 'mock'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

export interface ProviderConfig {
  name: string;
  type: ProviderType;
  base_url?: string;
  /** Secret reference (`env:X`, `file:P`, `${X}`), or `store` to use the credential set via CLI/admin API. */
  api_key?: string;
  /** azure-openai: when set, uses `/deployments/{model}/...?api-version=` paths instead of the v1 API. */
  api_version?: string;
  /** mock: chunk count and delay of streamed answers. */
  mock?: { chunks: number; chunk_delay_ms: number };
  timeouts?: { connect_ms?: number; first_byte_ms?: number; idle_ms?: number };
}

export interface RouteConfig {
  model: string;
  provider: string;
  upstream_model?: string | null;
}

export interface Config {
  server: {
    listen: string;
    public_url?: string;
    max_body_bytes: number;
    headers_timeout_ms: number;
    request_body_timeout_ms: number;
    keep_alive_timeout_ms: number;
    max_header_size: number;
    max_headers_count: number;
    trust_proxy: boolean;
    shutdown_grace_ms: number;
    shutdown_delay_ms: number;
  };
  store: StoreConfig;
  master_key: string;
  upstream: { connect_timeout_ms: number; first_byte_timeout_ms: number; idle_timeout_ms: number; connections: number };
  recording: { bodies: boolean; flush_interval_ms: number; max_recorded_body_bytes: number };
  auth: { key_cache_ttl_ms: number; roles: Record<string, string[]>; bootstrap_admin_key_file?: string };
  identity?: IdentityConfig;
  policy?: PolicyConfig;
  events: EventsConfig;
  audit?: AuditConfig;
  approvals: ApprovalsConfig;
  detection: DetectionConfig;
  analytics: AnalyticsConfig;
  alerts: AlertsConfig;
  /** MCP servers fronted at /mcp/<name> (docs/mcp.md). */
  mcp: McpConfig;
  logging: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'; repeat_interval_ms: number };
  providers: ProviderConfig[];
  routes: RouteConfig[];
}

const timeoutMs = { type: 'integer', minimum: 1, maximum: 86_400_000 } as const;

export const configSchema = {
  $id: 'https://portcullis.dev/schemas/config.json',
  type: 'object',
  additionalProperties: false,
  required: ['providers', 'routes'],
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        listen: { type: 'string', pattern: '^[^\\s]+:[0-9]{1,5}$', default: '127.0.0.1:8080', description: 'host:port to listen on' },
        public_url: { type: 'string', description: 'URL clients use to reach the gateway (links in messages)' },
        max_body_bytes: { type: 'integer', minimum: 1024, default: 10 * 1024 * 1024 },
        headers_timeout_ms: { ...timeoutMs, default: 10_000, description: 'slow-client guard: all request headers within this time' },
        request_body_timeout_ms: { ...timeoutMs, default: 30_000, description: 'slow-client guard: whole body within this time' },
        keep_alive_timeout_ms: { ...timeoutMs, default: 65_000 },
        max_header_size: { type: 'integer', minimum: 1024, maximum: 1_048_576, default: 16_384 },
        max_headers_count: { type: 'integer', minimum: 8, maximum: 2000, default: 100 },
        trust_proxy: { type: 'boolean', default: false, description: 'take the client address from X-Forwarded-For' },
        shutdown_grace_ms: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 30_000, description: 'on SIGTERM: how long in-flight exchanges may take to finish (docs/fleet.md)' },
        shutdown_delay_ms: { type: 'integer', minimum: 0, maximum: 600_000, default: 0, description: 'on SIGTERM: report not ready but keep serving this long before closing the listener, so load balancers notice (docs/fleet.md)' },
      },
    },
    store: storeConfigSchema,
    master_key: {
      type: 'string',
      default: 'file:./.portcullis/master.key',
      description: 'secret reference to 32 random bytes (base64); generated with mode 0600 when the file is missing',
    },
    upstream: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        connect_timeout_ms: { ...timeoutMs, default: 10_000 },
        first_byte_timeout_ms: { ...timeoutMs, default: 120_000 },
        idle_timeout_ms: { ...timeoutMs, default: 120_000, description: 'max silence between two body chunks' },
        // HTTP/1.1 holds one connection per open stream: a smaller pool silently queues streams past it until one
        // ends (bench/streams.ts: 256 capped 10,000 clients at 256 open streams, the rest waiting for minutes).
        connections: { type: 'integer', minimum: 1, maximum: 100_000, default: 10_000, description: 'per upstream origin: the most exchanges (open streams) in flight to it; past it requests wait for a free connection' },
      },
    },
    recording: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        bodies: { type: 'boolean', default: true, description: 'record request/response bodies (encrypted)' },
        flush_interval_ms: { type: 'integer', minimum: 10, maximum: 60_000, default: 250 },
        max_recorded_body_bytes: { type: 'integer', minimum: 1024, default: 16 * 1024 * 1024 },
      },
    },
    auth: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        key_cache_ttl_ms: { type: 'integer', minimum: 0, maximum: 600_000, default: 2_000 },
        roles: {
          type: 'object',
          description: 'role -> groups that grant it',
          propertyNames: { enum: ['admin', 'policy-author', 'approver', 'auditor', 'user'] },
          additionalProperties: { type: 'array', items: { type: 'string', minLength: 1 } },
          default: { admin: ['portcullis-admins'], auditor: ['portcullis-auditors'] },
        },
        bootstrap_admin_key_file: {
          type: 'string', minLength: 1,
          description: 'where the first start of an empty store writes the admin key (mode 0600; relative to the config file); `none`: create no key',
        },
      },
    },
    identity: identityConfigSchema,
    policy: policyConfigSchema,
    events: eventsConfigSchema,
    audit: auditConfigSchema,
    approvals: approvalsConfigSchema,
    detection: detectionConfigSchema,
    analytics: analyticsConfigSchema,
    alerts: alertsConfigSchema,
    mcp: mcpConfigSchema,
    logging: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], default: 'info' },
        // Identical warnings/errors within this interval are written once, then summarized (src/core/log-repeats.ts).
        repeat_interval_ms: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 10_000 },
      },
    },
    providers: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'type'],
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' },
          type: { enum: PROVIDER_TYPES },
          base_url: { type: 'string', pattern: '^https?://' },
          api_key: { type: 'string', minLength: 1 },
          api_version: { type: 'string' },
          mock: {
            type: 'object',
            additionalProperties: false,
            properties: {
              chunks: { type: 'integer', minimum: 1, maximum: 10_000, default: 8 },
              chunk_delay_ms: { type: 'integer', minimum: 0, maximum: 60_000, default: 0 },
            },
          },
          timeouts: {
            type: 'object',
            additionalProperties: false,
            properties: { connect_ms: timeoutMs, first_byte_ms: timeoutMs, idle_ms: timeoutMs },
          },
        },
      },
    },
    routes: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['model', 'provider'],
        properties: {
          model: { type: 'string', minLength: 1, description: 'exact name or glob (* and ?)' },
          provider: { type: 'string' },
          upstream_model: { type: ['string', 'null'] },
        },
      },
    },
  },
} as const;
