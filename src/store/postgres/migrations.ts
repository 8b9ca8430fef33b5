import type { Migration } from '../sqlite/migrations.ts';
import { IDENTITY_PG_MIGRATIONS } from './identity.ts';
import { POLICY_PG_MIGRATIONS } from './policy.ts';
import { AUDIT_PG_MIGRATIONS } from './audit.ts';
import { TEMPLATE_PG_MIGRATIONS } from './templates.ts';
import { MCP_PG_MIGRATIONS } from './mcp.ts';
import { APPROVAL_PG_MIGRATIONS } from './approvals.ts';
import { BUDGET_PG_MIGRATIONS } from './budgets.ts';
import { POSTGRES_OUTBOX_MIGRATIONS } from './outbox.ts';
import { ANALYTICS_APPROVAL_PG_MIGRATIONS, ANALYTICS_PG_MIGRATIONS } from './analytics.ts';
import { REPLICA_LEASES_SQL } from '../replica-sql.ts';
import { DEDUP_PG_MIGRATIONS } from './messages.ts';
import { ALERT_PG_MIGRATIONS } from './alerts.ts';
import { TOOL_CALL_PG_MIGRATIONS } from './tool-calls.ts';

/**
 * PostgreSQL schema, the same tables as SQLite (src/store/sqlite/migrations.ts) in PostgreSQL types. Append only.
 * Modules keep their own named lists next to their repo (e.g. src/store/postgres/identity.ts) and are listed in
 * POSTGRES_MIGRATIONS below, like SQLITE_MIGRATIONS.
 */
const CORE_MIGRATIONS: readonly Migration[] = [
  { id: 'core/001-initial', sql: `
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL, subject TEXT NOT NULL, kind TEXT NOT NULL, display_name TEXT NOT NULL,
    groups_json JSONB NOT NULL, created_at BIGINT NOT NULL, created_by TEXT NOT NULL, expires_at BIGINT, revoked_at BIGINT,
    description TEXT
  );
  CREATE TABLE exchanges (
    id TEXT PRIMARY KEY, started_at BIGINT NOT NULL, subject TEXT, principal_json JSONB, endpoint TEXT NOT NULL,
    method TEXT NOT NULL, path TEXT NOT NULL, model TEXT, provider TEXT, upstream_model TEXT, stream BOOLEAN NOT NULL,
    client_ip TEXT, user_agent TEXT, decision_json JSONB, findings_json JSONB NOT NULL, status TEXT NOT NULL,
    http_status INTEGER, error_code TEXT, finished_at BIGINT, timings_json JSONB, usage_json JSONB, event_count INTEGER,
    response_findings_json JSONB, client_request BYTEA, upstream_request BYTEA, response BYTEA
  );
  CREATE INDEX exchanges_subject ON exchanges(subject, id);
  CREATE INDEX exchanges_started ON exchanges(started_at);
  CREATE TABLE exchange_segments (
    exchange_id TEXT NOT NULL REFERENCES exchanges(id), seq INTEGER NOT NULL, sealed BYTEA NOT NULL,
    PRIMARY KEY (exchange_id, seq)
  );
  CREATE TABLE provider_credentials (
    provider TEXT PRIMARY KEY, sealed BYTEA NOT NULL, updated_at BIGINT NOT NULL, updated_by TEXT NOT NULL
  );
  ` },
  { id: 'core/002-token-vault', sql: `
  CREATE TABLE token_vault (
    conversation TEXT NOT NULL, placeholder TEXT NOT NULL, value_mac TEXT NOT NULL, sealed BYTEA NOT NULL,
    expires_at BIGINT NOT NULL, PRIMARY KEY (conversation, placeholder)
  );
  CREATE INDEX token_vault_expiry ON token_vault(expires_at);
  ` },
  // Whether the request went to the provider (ExchangeFinish.forwarded); NULL for rows finished before it existed.
  { id: 'core/003-exchange-forwarded', sql: 'ALTER TABLE exchanges ADD COLUMN forwarded BOOLEAN' },
  { id: 'core/004-replica-leases', sql: REPLICA_LEASES_SQL },
  // The exchange list's group, client tool and finding type filters (docs/api.md): the client tool family as the
  // rollups count it, written at start; containment (@>) on the groups, served by a GIN index (written once, at
  // start). The findings are not indexed: an index on `response_findings_json`, which the finish sets, would make
  // every finish a non-HOT update of every index of the row on the fleet's busiest table; the finding filter reads
  // the rows of the range, newest first, up to the limit. Rows recorded before this step get their client tool from
  // the usage roller (AnalyticsRepo.backfillClientTools).
  { id: 'core/005-exchange-filters', sql: `
  ALTER TABLE exchanges ADD COLUMN client_tool TEXT;
  CREATE INDEX exchanges_client_tool ON exchanges(client_tool, id);
  CREATE INDEX exchanges_groups ON exchanges USING gin ((principal_json->'groups') jsonb_path_ops);
  ` },
];

export const POSTGRES_MIGRATIONS: readonly Migration[] = [...CORE_MIGRATIONS, ...IDENTITY_PG_MIGRATIONS, ...APPROVAL_PG_MIGRATIONS, ...BUDGET_PG_MIGRATIONS, ...TEMPLATE_PG_MIGRATIONS, ...AUDIT_PG_MIGRATIONS, ...POLICY_PG_MIGRATIONS, ...POSTGRES_OUTBOX_MIGRATIONS, ...ANALYTICS_PG_MIGRATIONS, ...MCP_PG_MIGRATIONS, ...DEDUP_PG_MIGRATIONS, ...ALERT_PG_MIGRATIONS, ...ANALYTICS_APPROVAL_PG_MIGRATIONS, ...TOOL_CALL_PG_MIGRATIONS];
