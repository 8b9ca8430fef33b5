import type { SqliteCore } from './core.ts';
import { policySqlite } from './policy.ts';
import { auditSqlite } from './audit.ts';
import { outboxSqlite } from './outbox.ts';
import { approvalsSqlite } from './approvals.ts';
import { identitySqlite } from './identity.ts';
import { budgetsSqlite } from './budgets.ts';
import { templatesSqlite } from './templates.ts';
import { analyticsSqlite } from './analytics.ts';
import { replicasSqlite } from './replicas.ts';
import { mcpSqlite } from './mcp.ts';
import { alertsSqlite } from './alerts.ts';
import { toolCallsSqlite } from './tool-calls.ts';

/**
 * Extension repos for the SQLite worker. A module (identity, policy, audit, approvals, …) adds persistence by:
 *  1. appending its migrations to SQLITE_MIGRATIONS (migrations.ts),
 *  2. writing `export function fooSqlite(core: SqliteCore): Record<'foo.method', fn>` of synchronous methods
 *     (use core.stmt(sql) for cached prepared statements) and listing it here,
 *  3. exposing a typed async repo on the main side that calls `SqliteStore.callExt('foo.method', …)`, and the
 *     same port on PostgreSQL; the conformance suite covers both.
 * Method names must contain a dot (`module.method`).
 */
export type SqliteExtension = (core: SqliteCore) => Record<string, (...args: never[]) => unknown>;

export const SQLITE_EXTENSIONS: readonly SqliteExtension[] = [identitySqlite, auditSqlite, outboxSqlite, approvalsSqlite, budgetsSqlite, policySqlite, templatesSqlite, analyticsSqlite, replicasSqlite, mcpSqlite, alertsSqlite, toolCallsSqlite];
