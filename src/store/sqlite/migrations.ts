/**
 * Versioned schema migrations for SQLite, one named list per module so modules evolve independently. Append
 * only: never edit a released step. Applied ids are kept in `schema_migrations`; steps run in list order.
 */
import { IDENTITY_MIGRATIONS } from './identity.ts';
import { POLICY_MIGRATIONS } from './policy.ts';
import { AUDIT_MIGRATIONS } from './audit.ts';
import { OUTBOX_MIGRATIONS } from './outbox.ts';
import { APPROVAL_MIGRATIONS } from './approvals.ts';
import { BUDGET_MIGRATIONS } from './budgets.ts';
import { TEMPLATE_MIGRATIONS } from './templates.ts';
import { ANALYTICS_APPROVAL_MIGRATIONS, ANALYTICS_MIGRATIONS } from './analytics.ts';
import { REPLICA_LEASES_SQL } from '../replica-sql.ts';
import { MCP_MIGRATIONS } from './mcp.ts';
import { DEDUP_MIGRATIONS } from './messages.ts';
import { ALERT_MIGRATIONS } from './alerts.ts';
import { TOOL_CALL_MIGRATIONS } from './tool-calls.ts';

export interface Migration {
  id: string;
  sql: string;
}

export const CORE_MIGRATIONS: readonly Migration[] = [
  { id: 'core/001-initial', sql: `
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    display_name TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    description TEXT
  );
  CREATE TABLE exchanges (
    id TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    subject TEXT,
    principal_json TEXT,
    endpoint TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    model TEXT,
    provider TEXT,
    upstream_model TEXT,
    stream INTEGER NOT NULL,
    client_ip TEXT,
    user_agent TEXT,
    decision_json TEXT,
    findings_json TEXT NOT NULL,
    status TEXT NOT NULL,
    http_status INTEGER,
    error_code TEXT,
    finished_at INTEGER,
    timings_json TEXT,
    usage_json TEXT,
    event_count INTEGER,
    response_findings_json TEXT,
    -- Sealed bodies live in the row: one page write per exchange instead of two; retention purges set them NULL.
    client_request BLOB,
    upstream_request BLOB,
    response BLOB
  );
  CREATE INDEX exchanges_subject ON exchanges(subject, id);
  CREATE INDEX exchanges_started ON exchanges(started_at);
  CREATE TABLE exchange_segments (
    exchange_id TEXT NOT NULL REFERENCES exchanges(id),
    seq INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (exchange_id, seq)
  );
  CREATE TABLE provider_credentials (
    provider TEXT PRIMARY KEY,
    sealed BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
  );
  ` },
  { id: 'core/002-token-vault', sql: `
  CREATE TABLE token_vault (
    conversation TEXT NOT NULL,
    placeholder TEXT NOT NULL,
    value_mac TEXT NOT NULL,
    sealed BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (conversation, placeholder)
  );
  CREATE INDEX token_vault_expiry ON token_vault(expires_at);
  ` },
  // Whether the request went to the provider (ExchangeFinish.forwarded); NULL for rows finished before it existed.
  { id: 'core/003-exchange-forwarded', sql: 'ALTER TABLE exchanges ADD COLUMN forwarded INTEGER' },
  { id: 'core/004-replica-leases', sql: REPLICA_LEASES_SQL },
  // The exchange list's client tool filter (docs/api.md): the family the rollups count the exchange under, written at
  // start. Groups and finding types are read from the JSON columns (SQLite indexes no array element): the list walks
  // the id (or started_at) index and stops at its limit. Rows recorded before this step get theirs from the usage
  // roller (AnalyticsRepo.backfillClientTools).
  { id: 'core/005-exchange-client-tool', sql: `
  ALTER TABLE exchanges ADD COLUMN client_tool TEXT;
  CREATE INDEX exchanges_client_tool ON exchanges(client_tool, id);
  ` },
];

/** Every module's migrations, in the order they apply. Modules append their list here. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [...CORE_MIGRATIONS, ...IDENTITY_MIGRATIONS, ...AUDIT_MIGRATIONS, ...OUTBOX_MIGRATIONS, ...APPROVAL_MIGRATIONS, ...BUDGET_MIGRATIONS, ...POLICY_MIGRATIONS, ...TEMPLATE_MIGRATIONS, ...ANALYTICS_MIGRATIONS, ...MCP_MIGRATIONS, ...DEDUP_MIGRATIONS, ...ALERT_MIGRATIONS, ...ANALYTICS_APPROVAL_MIGRATIONS, ...TOOL_CALL_MIGRATIONS];
