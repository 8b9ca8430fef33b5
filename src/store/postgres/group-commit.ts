/** What a batch reports for each of its calls: a value, or an error of that call alone (the others still commit). */
export type Outcome<O> = { ok: true; value: O } | { ok: false; error: unknown };

export interface GroupCommitOptions {
  /** Most calls in one batch (bounds a statement's parameters and a transaction's length). */
  maxBatch: number;
  /** True when an error says the database is not serving: retrying the calls one by one would only fail again. */
  isUnavailable: (err: unknown) => boolean;
}

/**
 * Group commit: one batch in flight; calls made while it is gather and go out together in the next, in call order —
 * one transaction, one WAL flush, a few multi-row statements for all of them, instead of one transaction per call
 * (docs/benchmark.md, "Stop 19"). `run` executes a batch as ONE transaction and resolves once it committed, with an
 * outcome per call (a conditional write that matched nothing fails its call, not the batch).
 *
 * If the transaction fails, nothing of it was committed and no caller is told otherwise: when the database is
 * unavailable, every call of the batch is rejected with that error (the recorder fails closed: 503
 * recording_failed); any other error (a row the database refuses) is one call's fault, so the calls are retried one
 * per transaction, in order, and only the bad one fails — as the SQLite worker replays a failed batch with a
 * savepoint per call. A call resolves only after the transaction holding it committed.
 */
export function groupCommit<I, O>(run: (inputs: I[]) => Promise<Outcome<O>[]>, opts: GroupCommitOptions): (input: I) => Promise<O> {
  interface Call { input: I; resolve: (o: O) => void; reject: (err: unknown) => void }
  let queue: Call[] = [];
  let draining = false;
  const settle = (c: Call, o: Outcome<O> | undefined): void => {
    if (!o) c.reject(new Error('group commit: the batch returned no outcome for a call'));
    else if (o.ok) c.resolve(o.value);
    else c.reject(o.error);
  };
  const runBatch = async (batch: Call[]): Promise<void> => {
    try {
      const out = await run(batch.map((c) => c.input));
      batch.forEach((c, i) => settle(c, out[i]));
    } catch (err) {
      if (batch.length === 1 || opts.isUnavailable(err)) {
        for (const c of batch) c.reject(err);
        return;
      }
      for (const c of batch) {
        await run([c.input]).then((o) => settle(c, o[0]), (e: unknown) => c.reject(e));
      }
    }
  };
  const drain = async (): Promise<void> => {
    // Calls made in the same synchronous run as the first one join its batch.
    await Promise.resolve();
    while (queue.length > 0) {
      const batch = queue.slice(0, opts.maxBatch);
      queue = queue.slice(batch.length);
      await runBatch(batch);
    }
    draining = false;
  };
  return (input) => new Promise<O>((resolve, reject) => {
    queue.push({ input, resolve, reject });
    if (draining) return;
    draining = true;
    void drain();
  });
}
