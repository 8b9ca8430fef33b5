import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import { policySchema } from '../../src/policy/document.ts';

/**
 * schemas/policy.schema.json (for editors: `# yaml-language-server: $schema=…`) is the TS schema, byte for byte.
 * Regenerate: node -e "import('./src/policy/document.ts').then(m => require('fs').writeFileSync('schemas/policy.schema.json', JSON.stringify(m.policySchema, null, 2) + '\n'))"
 */
it('schemas/policy.schema.json is identical to the schema the loader validates with', async () => {
  const file = await readFile(new URL('../../schemas/policy.schema.json', import.meta.url), 'utf8');
  assert.equal(file, JSON.stringify(policySchema, null, 2) + '\n');
});
