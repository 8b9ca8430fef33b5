import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadOrCreateMasterKey } from './master-key.ts';

// The master key file may be read only by its owner — or, root-owned, by one group: Kubernetes mounts a secret for
// a non-root pod as root:fsGroup 0440 (docs/deploy.md). Everything looser is refused before the key is used.
describe('master key file permissions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-mk-'));
  const env = {};
  const keyFile = (name: string, mode: number, uid: number): string => {
    const path = join(dir, name);
    writeFileSync(path, randomBytes(32).toString('base64') + '\n');
    chmodSync(path, mode);
    chownSync(path, uid, 0);
    return path;
  };
  const load = (path: string) => loadOrCreateMasterKey(`file:${path}`, { baseDir: dir, env });

  it('accepts a file private to its owner, and a root-owned one readable by its group (a Kubernetes secret)', async () => {
    assert.equal(process.getuid?.(), 0, 'this test sets file owners: it runs as root, like the CI machine');
    assert.equal((await load(keyFile('own', 0o600, 1000))).key.length, 32);
    assert.equal((await load(keyFile('k8s', 0o440, 0))).key.length, 32);
    assert.equal((await load(keyFile('pg-style', 0o640, 0))).key.length, 32);
  });

  it('refuses a key readable by others, writable by the group, or group-readable but not owned by root', async () => {
    await assert.rejects(load(keyFile('world', 0o644, 0)), /readable by others or writable by group\/others \(mode 644\)/);
    await assert.rejects(load(keyFile('group-write', 0o660, 0)), /mode 660/);
    await assert.rejects(load(keyFile('user-group', 0o640, 1000)), /mode 640/);
    await assert.rejects(load(keyFile('user-group-ro', 0o440, 1000)), /mode 440/);
  });
});
