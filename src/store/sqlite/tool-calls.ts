import type { SQLOutputValue } from 'node:sqlite';
import type { NotedToolCall, ToolCallIndex } from '../../audit/tool-call-index.ts';
import type { SqliteCore } from './core.ts';
import type { SqliteStore } from './index.ts';
import type { Migration } from './migrations.ts';

/** Tool calls models answered with, for linking the MCP call that follows (src/audit/tool-call-index.ts). */
export const TOOL_CALL_MIGRATIONS: readonly Migration[] = [
  { id: 'mcp/002-model-tool-calls', sql: `
  CREATE TABLE model_tool_calls (
    subject TEXT NOT NULL, args_digest TEXT NOT NULL, at INTEGER NOT NULL, exchange_id TEXT NOT NULL,
    tool_call_id TEXT NOT NULL, name TEXT NOT NULL,
    PRIMARY KEY (exchange_id, tool_call_id)
  );
  CREATE INDEX model_tool_calls_lookup ON model_tool_calls(subject, args_digest, at);
  CREATE INDEX model_tool_calls_at ON model_tool_calls(at);
  ` },
];

const toCall = (r: Record<string, SQLOutputValue>): NotedToolCall => ({
  subject: String(r.subject), argsDigest: String(r.args_digest), at: Number(r.at), exchangeId: String(r.exchange_id),
  toolCallId: String(r.tool_call_id), name: String(r.name),
});

/** Runs in the worker: a note and its pruning are one transaction. */
export function toolCallsSqlite(core: SqliteCore): Record<string, (...args: never[]) => unknown> {
  return {
    'toolcalls.note': (calls: NotedToolCall[], forgetBefore: number) => {
      core.stmt('DELETE FROM model_tool_calls WHERE at < ?').run(forgetBefore);
      const insert = core.stmt(`INSERT INTO model_tool_calls (subject, args_digest, at, exchange_id, tool_call_id, name) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (exchange_id, tool_call_id) DO NOTHING`);
      for (const c of calls) insert.run(c.subject, c.argsDigest, c.at, c.exchangeId, c.toolCallId, c.name);
    },
    'toolcalls.find': (q: { subject: string; argsDigest: string; since: number; limit: number }) =>
      core.stmt('SELECT * FROM model_tool_calls WHERE subject = ? AND args_digest = ? AND at >= ? ORDER BY at DESC, exchange_id DESC LIMIT ?')
        .all(q.subject, q.argsDigest, q.since, q.limit).map(toCall),
  };
}

export function sqliteToolCallIndex(store: SqliteStore): ToolCallIndex {
  return {
    note: (calls, forgetBefore) => store.callExt('toolcalls.note', calls, forgetBefore),
    find: (q) => store.callExt('toolcalls.find', q),
  };
}
