#!/usr/bin/env node
// Portcullis runs its TypeScript sources directly (Node's built-in type stripping, Node >= 22.18). When the Node
// on PATH is older, re-run under the Node 24 runtime the project installs as a dev dependency.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  const bundled = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(bundled)) {
    process.stderr.write(`portcullis needs Node >= 22.18 (found ${process.versions.node}); run \`npm install\` to get the bundled Node 24.\n`);
    process.exit(1);
  }
  const r = spawnSync(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const { main } = await import('../src/cli/main.ts');
await main();
