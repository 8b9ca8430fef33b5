import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApprovalAuditRecord } from '../../src/approvals/service.ts';
import { approvalEvent } from '../../src/compose/evidence.ts';
import type { EventPipeline } from '../../src/events/pipeline.ts';
import { createHttpSink } from '../../src/events/sinks/http.ts';
import { openOutboxRepo } from '../../src/store/outbox-repo.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { pipelineOf, startCollector, testConfig, waitFor, type Collector } from './helpers.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * Issue #11 item 20: the stable id of a decided approval event is `approval.<decision>:<approval id>` (docs/events.md
 * "Stable ids"). A SIEM de-duplicates on it, and so does the outbox: an approval approved and later expired unused
 * must reach the SIEM as two facts, while the same fact emitted twice (a retry after a crash) arrives once.
 */
describe('approval event ids: one per fact', () => {
  let t: TestGateway;
  let col: Collector;
  let pipeline: EventPipeline;
  before(async () => {
    col = await startCollector();
    t = await startTestGateway();
    const sink = createHttpSink({ name: 'siem', format: 'http', url: col.url, batchSize: 50, timeoutMs: 2_000, headers: {}, sourcetype: 's', source: 's', productVersion: 't' }, 'h');
    pipeline = pipelineOf({ outbox: openOutboxRepo(t.gw.store), sinks: [sink], config: testConfig({ spill_path: join(t.dir, 'spill.jsonl') }) });
    await pipeline.start();
  });
  after(async () => {
    await pipeline.close();
    await t.close();
    await col.close();
  });

  const record = (kind: ApprovalAuditRecord['kind'], subject: string): ApprovalAuditRecord => ({ kind, subject, refId: 'apr_01TEST', payload: { requester: 'user:alice', scope: 'window', expires_at: kind === 'approval.approved' ? 61_000 : null } });

  it('approved, then expired unused: two decided events with their own uids; a re-emitted decision is not duplicated', async () => {
    const approved = approvalEvent(record('approval.approved', 'user:bob'), 1_000);
    const expired = approvalEvent(record('approval.expired', 'system'), 2_000);
    assert.equal(approved.id, 'approval.approved:apr_01TEST');
    assert.equal(expired.id, 'approval.expired:apr_01TEST');
    await pipeline.emit(approved);
    await pipeline.emit(approvalEvent(record('approval.approved', 'user:bob'), 1_500)); // the same fact again
    await pipeline.emit(expired);
    const decided = (): Json[] => col.received.flatMap((r) => JSON.parse(r.body) as Json[]).filter((e) => e.metadata.event_code === 'approval.decided');
    await waitFor(() => decided().length >= 2, 10_000, 'both decided events');
    await pipeline.emit(approvalEvent(record('approval.requested', 'user:alice'), 3_000)); // a later event: delivery went past the re-emission
    await waitFor(() => col.received.some((r) => r.body.includes('approval.requested:apr_01TEST')), 10_000, 'the later event');
    assert.deepEqual(decided().map((e) => e.metadata.uid as string), ['approval.approved:apr_01TEST', 'approval.expired:apr_01TEST']);
    assert.equal(decided()[0]!.unmapped.portcullis.window_ends_at, 61_000, 'an approved window says when it ends');
    assert.equal(decided()[1]!.unmapped.portcullis.window_ends_at, undefined);
  });
});
