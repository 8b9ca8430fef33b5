#!/usr/bin/env node
// Portcullis runs its TypeScript sources directly (Node's built-in type stripping, Node >= 22.18).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`portcullis needs Node >= 22.18 (found ${process.versions.node}); run it through npm (npm start / npx portcullis) to use the bundled Node 24.\n`);
  process.exit(1);
}
const { main } = await import('../src/cli/main.ts');
await main();
