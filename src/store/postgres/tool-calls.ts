import type { NotedToolCall, ToolCallIndex } from '../../audit/tool-call-index.ts';
import type { Migration } from '../sqlite/migrations.ts';
import type { PostgresStore } from './index.ts';

/** Tool calls models answered with, on PostgreSQL: the same table as SQLite. */
export const TOOL_CALL_PG_MIGRATIONS: readonly Migration[] = [
  { id: 'mcp/002-model-tool-calls', sql: `
  CREATE TABLE model_tool_calls (
    subject TEXT NOT NULL, args_digest TEXT NOT NULL, at BIGINT NOT NULL, exchange_id TEXT NOT NULL,
    tool_call_id TEXT NOT NULL, name TEXT NOT NULL,
    PRIMARY KEY (exchange_id, tool_call_id)
  );
  CREATE INDEX model_tool_calls_lookup ON model_tool_calls(subject, args_digest, at);
  CREATE INDEX model_tool_calls_at ON model_tool_calls(at);
  ` },
];

export function postgresToolCallIndex(store: PostgresStore): ToolCallIndex {
  return {
    note: (calls, forgetBefore) => store.transaction(async (c) => {
      await c.query('DELETE FROM model_tool_calls WHERE at < $1', [forgetBefore]);
      if (calls.length === 0) return;
      const values = calls.map((_, i) => `($${i * 6 + 1}, $${i * 6 + 2}, $${i * 6 + 3}, $${i * 6 + 4}, $${i * 6 + 5}, $${i * 6 + 6})`).join(', ');
      await c.query(`INSERT INTO model_tool_calls (subject, args_digest, at, exchange_id, tool_call_id, name) VALUES ${values}
        ON CONFLICT (exchange_id, tool_call_id) DO NOTHING`, calls.flatMap((x) => [x.subject, x.argsDigest, x.at, x.exchangeId, x.toolCallId, x.name]));
    }),
    find: async (q) => (await store.query(
      'SELECT * FROM model_tool_calls WHERE subject = $1 AND args_digest = $2 AND at >= $3 ORDER BY at DESC, exchange_id DESC LIMIT $4',
      [q.subject, q.argsDigest, q.since, q.limit],
    )).rows.map((r): NotedToolCall => ({
      subject: String(r.subject), argsDigest: String(r.args_digest), at: Number(r.at), exchangeId: String(r.exchange_id),
      toolCallId: String(r.tool_call_id), name: String(r.name),
    })),
  };
}
