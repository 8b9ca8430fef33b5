import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { parseConfig } from '../../src/config/loader.ts';
import { createLogger } from '../../src/core/logger.ts';
import { startGateway } from '../../src/main.ts';

/**
 * A start that fails part-way names the cause and closes what it opened: the same store under another master
 * key is refused (nothing in it could be read or verified), and a second start on a port in use fails cleanly.
 * If anything stayed open, this file would never finish.
 */
it('a failed start says why and leaves nothing running', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-start-'));
  const config = parseConfig(`
server: { listen: "127.0.0.1:0" }
store: { url: "sqlite:${join(dir, 'p.db')}" }
master_key: env:PCL_MASTER
logging: { level: silent }
providers: [{ name: m, type: mock }]
routes: [{ model: "*", provider: m }]
`, 'start.yaml');
  const start = (key: string, listen = '127.0.0.1:0') => startGateway({ config, baseDir: dir, env: { PCL_MASTER: key }, logger: createLogger('silent'), listen });
  const keyA = randomBytes(32).toString('base64');
  const first = await start(keyA);
  await assert.rejects(start(keyA, `127.0.0.1:${first.port}`), /EADDRINUSE/);
  await first.close();
  await assert.rejects(start(randomBytes(32).toString('base64')), /another master key/);
  const again = await start(keyA);
  await again.close();
});
