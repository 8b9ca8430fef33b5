import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../core/errors.ts';
import type { GatewayLogger, LogFields } from '../core/logger.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import { policySourceHash, type IntegrityFailure, type IntegrityProblem, type PolicyActivation, type PolicyLedger, type PolicyRepo, type PolicyVersionRecord } from '../policy/versions.ts';
import type { ExchangeContext } from '../proxy/context.ts';
import type { ExchangeGuard } from '../proxy/guard.ts';
import { createPolicyRuntime, type PolicyRuntime } from './policy-runtime.ts';

/** A guard that says which version it was compiled from. */
type TaggedGuard = ExchangeGuard & { version?: string };

/** The store, the ledger and the gateway's guard slot, with hooks to make a read fail or a check refuse. */
function world() {
  const versions = new Map<string, PolicyVersionRecord>();
  const activations: PolicyActivation[] = [];
  const failNext = { active: 0, get: 0, check: 0 };
  /** Answered by the ledger (default: the activation is chained and intact). */
  let problem: (versionId: string) => IntegrityProblem | undefined = () => undefined;
  const installed: TaggedGuard[] = [];
  const failures: IntegrityFailure[] = [];
  const logs: LogFields[] = [];
  let gate: Promise<void> | undefined;
  const readError = () => new Error('SQLITE_BUSY: database is locked');
  const repo = {
    async active() {
      const seen = activations.at(-1);
      await gate;
      if (failNext.active > 0 && failNext.active--) throw readError();
      return seen;
    },
    async get(id: string) {
      if (failNext.get > 0 && failNext.get--) throw readError();
      return versions.get(id);
    },
  } as unknown as PolicyRepo;
  const ledger: PolicyLedger = {
    onFailure: (f) => void failures.push(f),
    chainActivation: async () => undefined,
    async checkActivation(b) {
      if (failNext.check > 0 && failNext.check--) throw readError();
      return problem(b.versionId);
    },
  };
  const log = (f: LogFields) => void logs.push(f);
  const logger: GatewayLogger = { info: log, warn: log, error: log, debug: log };
  const push = (n: number): PolicyVersionRecord => {
    const source = `version: 1\n# v${n}\n`;
    const v = { id: `pv_${n}`, number: n, hash: policySourceHash(source), source, author: 'a', message: '', createdAt: 0 };
    versions.set(v.id, v);
    return v;
  };
  const activate = (v: PolicyVersionRecord) => activations.push({ seq: activations.length + 1, versionId: v.id, mode: 'enforce', action: 'activate', at: 1, by: 'user:admin' });
  const runtime = (pollIntervalMs = 0): PolicyRuntime => createPolicyRuntime({
    repo, logger, ledger, pollIntervalMs,
    load: (_source, _file, version) => ({ engine: { version } }) as unknown as LoadedPolicy,
    guardFor: (p) => ({ version: p.engine.version, inspectRequest: async () => undefined, responseTransformer: () => undefined, filterModels: (_p, m) => m }),
    setGuard: (g) => void installed.push(g),
  });
  return {
    versions, failNext, installed, failures, logs, push, activate, runtime,
    setProblem: (f: typeof problem) => void (problem = f),
    /** Holds `active()` (after it read the activation) until the returned function is called. */
    hold: (): (() => void) => {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
    current: () => installed.at(-1),
    events: (name: string) => logs.filter((l) => l.event === name),
  };
}

const ctx = { id: 'ex_01TESTEXCHANGE' } as ExchangeContext;
const refuses = async (g: ExchangeGuard | undefined): Promise<boolean> =>
  g !== undefined && (await g.inspectRequest(ctx).then(() => false, (err: unknown) => err instanceof GatewayError && err.code === 'evaluation_error'));

const waitFor = async (what: string, check: () => boolean): Promise<void> => {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('policy runtime: a failed load is not latched', () => {
  it('a store read that fails keeps the current guard (no refusing guard), and the next refresh installs the new version', async () => {
    const w = world();
    w.activate(w.push(1));
    const rt = w.runtime();
    await rt.start();
    assert.equal(w.current()?.version, 'pv_1');
    w.activate(w.push(2));
    w.failNext.get = 1;
    await assert.rejects(rt.refresh(), /SQLITE_BUSY/);
    assert.equal(w.installed.length, 1, 'nothing was swapped in');
    assert.equal(await refuses(w.current()), false);
    assert.deepEqual([rt.state().versionId, rt.state().error], ['pv_1', null]);
    w.failNext.check = 1; // the ledger's read of the trail fails next: the same
    await assert.rejects(rt.refresh(), /SQLITE_BUSY/);
    assert.equal(w.installed.length, 1);
    await rt.refresh();
    assert.equal(w.current()?.version, 'pv_2');
    assert.deepEqual([rt.state().versionId, rt.state().error], ['pv_2', null]);
    assert.equal(w.failures.length, 0, 'a read error is not an integrity failure');
  });

  it('under polling: a failed read is logged as policy_poll_failed, the old guard serves, and the next poll heals', async () => {
    const w = world();
    w.activate(w.push(1));
    const rt = w.runtime(5);
    await rt.start();
    try {
      w.activate(w.push(2));
      w.failNext.active = 1;
      w.failNext.get = 1;
      await waitFor('the new version', () => w.current()?.version === 'pv_2');
      assert.equal(w.events('policy_poll_failed').length, 2);
      assert.deepEqual(w.installed.map((g) => g.version), ['pv_1', 'pv_2'], 'no refusing guard in between');
    } finally {
      rt.close();
    }
  });

  it('a check that failed once is made again: the refusing guard gives way to the version on the next refresh', async () => {
    const w = world();
    const v1 = w.push(1);
    w.activate(v1);
    let answers: (IntegrityProblem | undefined)[] = ['activation_unchained'];
    w.setProblem(() => answers.shift());
    const rt = w.runtime();
    await rt.start();
    assert.equal(await refuses(w.current()), true);
    assert.match(rt.state().error ?? '', /integrity check \(activation_unchained\)/);
    await rt.refresh();
    assert.equal(w.current()?.version, 'pv_1');
    assert.equal(rt.state().error, null);
    // Settled: an installed version is not checked again until the next activation.
    answers = ['activation_unchained'];
    await rt.refresh();
    assert.equal(w.current()?.version, 'pv_1');
    assert.equal(answers.length, 1);
    // A version missing from the store (a replica behind) is looked up again too.
    const v2 = w.push(2);
    w.versions.delete(v2.id);
    w.activate(v2);
    answers = [];
    await rt.refresh();
    assert.equal(await refuses(w.current()), true);
    w.versions.set(v2.id, v2);
    await rt.refresh();
    assert.equal(w.current()?.version, 'pv_2');
  });

  it('a tampered activation is refused on every request and every poll, but reported once per activation and problem', async () => {
    const w = world();
    w.activate(w.push(1));
    w.setProblem(() => 'activation_entry_altered');
    const rt = w.runtime();
    await rt.start();
    for (let i = 0; i < 4; i++) {
      await rt.refresh();
      assert.equal(await refuses(w.current()), true, `poll ${i}`);
    }
    assert.equal(w.installed.length, 1, 'the refusing guard is swapped in once');
    assert.deepEqual(w.failures, [{ versionId: 'pv_1', number: 1, problem: 'activation_entry_altered', during: 'load' }]);
    assert.equal(w.events('policy_integrity_failed').length, 1);
    assert.equal(w.events('policy_unavailable').length, 1);
    // Another problem with the same activation is news; so is the same problem with another activation.
    w.setProblem(() => 'activation_unchained');
    await rt.refresh();
    await rt.refresh();
    w.activate(w.push(2));
    await rt.refresh();
    await rt.refresh();
    assert.deepEqual(w.failures.map((f) => [f.versionId, f.problem]), [['pv_1', 'activation_entry_altered'], ['pv_1', 'activation_unchained'], ['pv_2', 'activation_unchained']]);
    assert.equal(w.events('policy_integrity_failed').length, 3);
    assert.equal(await refuses(w.current()), true);
    assert.equal(rt.state().versionId, 'pv_2');
  });

  it('a refresh asked for during one that already read the store runs again: it sees the activation made before it', async () => {
    const w = world();
    w.activate(w.push(1));
    const rt = w.runtime();
    await rt.start();
    const release = w.hold();
    const poll = rt.refresh(); // has read activation 1, waits in the store
    w.activate(w.push(2));
    const afterActivation = rt.refresh(); // the admin API's, after the activation was stored
    release();
    await Promise.all([poll, afterActivation]);
    assert.equal(w.current()?.version, 'pv_2');
    assert.equal(rt.state().versionId, 'pv_2');
  });
});
