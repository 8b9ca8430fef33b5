// Benchmark child: the mock upstream. Prints its URL on stdout.
import { startMockUpstream } from '../../src/mock/server.ts';

const chunks = Number(process.env.MOCK_CHUNKS ?? 8);
const m = await startMockUpstream({ host: '127.0.0.1', port: 0, chunks, chunkDelayMs: Number(process.env.MOCK_CHUNK_DELAY_MS ?? 0) });
process.stdout.write(`READY ${m.url}\n`);
