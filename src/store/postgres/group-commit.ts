/**
 * Group commit per key, for writes that must be serialised (an audit chain's appends take their writer's advisory
 * lock and read its head): while one transaction is in flight, later calls for the same key gather and go out
 * together in the next one — one lock wait, one round of WAL flush, for all of them. Without it every exchange's
 * chain entries queue on the lock one commit at a time, and a replica's throughput is bounded by commit latency
 * (docs/benchmark.md, Fleet). Order is kept (FIFO per key). If a batch fails, its calls are retried one per
 * transaction, so one bad call fails alone and undoes nothing of the others (as the SQLite worker does).
 */
export function groupCommit<K, I, O>(run: (key: K, inputs: I[]) => Promise<O[]>): (key: K, input: I) => Promise<O> {
  interface Call { input: I; resolve: (o: O) => void; reject: (err: unknown) => void }
  const queues = new Map<K, Call[]>();
  const drain = async (key: K, queue: Call[]): Promise<void> => {
    for (let batch = queue.splice(0); batch.length > 0; batch = queue.splice(0)) {
      try {
        const out = await run(key, batch.map((c) => c.input));
        batch.forEach((c, i) => c.resolve(out[i]!));
      } catch (err) {
        if (batch.length === 1) batch[0]!.reject(err);
        else for (const c of batch) await run(key, [c.input]).then((o) => c.resolve(o[0]!), c.reject);
      }
    }
    queues.delete(key);
  };
  return (key, input) => new Promise<O>((resolve, reject) => {
    const queue = queues.get(key);
    if (queue) return void queue.push({ input, resolve, reject });
    const fresh: Call[] = [{ input, resolve, reject }];
    queues.set(key, fresh);
    void drain(key, fresh);
  });
}
