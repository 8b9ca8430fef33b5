import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeConformance } from '../conformance.ts';
import { SqliteStore } from './index.ts';

storeConformance('sqlite (file, worker thread)', () =>
  SqliteStore.open({ path: join(mkdtempSync(join(tmpdir(), 'pcl-store-')), 'db.sqlite'), synchronous: 'normal' }),
);
