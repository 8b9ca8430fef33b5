import { createRequire } from 'node:module';

/** The package version (package.json), read once at load: reported by `portcullis version` and in OCSF metadata. */
export const PRODUCT_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
