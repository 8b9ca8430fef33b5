// Benchmark child: the mock upstream; it keeps no received requests (a soak would grow it). Prints its URL on stdout.
import { startMockUpstream } from '../../src/mock/server.ts';

const chunks = Number(process.env.MOCK_CHUNKS ?? 8);
// MOCK_HOLD=1: streams wait after their first two events until SIGUSR2 (bench/streams.ts: all open at once).
const hold = process.env.MOCK_HOLD ? { released: false } : undefined;
process.on('SIGUSR2', () => {
  if (hold) hold.released = true;
});
const m = await startMockUpstream({ host: '127.0.0.1', port: 0, chunks, chunkDelayMs: Number(process.env.MOCK_CHUNK_DELAY_MS ?? 0), hold, record: false });
process.stdout.write(`READY ${m.url}\n`);
