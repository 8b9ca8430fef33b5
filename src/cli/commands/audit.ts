import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { verifyBundle, type BundleReport } from '../../audit/bundle-verify.ts';
import { bundleReportJson, verifyReportJson } from '../../audit/report-json.ts';
import { cliActor, openCliAuditLog } from '../audited.ts';
import { openStoreSession, parse } from '../context.ts';
import { print, printJson, printText, UsageError, type CliCommand, type CliIo } from '../io.ts';

const USAGE = `portcullis audit verify [--key PEM_FILE] [--no-bodies] [--json] [--config FILE]
       portcullis audit export [--since ISO] [--until ISO] --out FILE [--config FILE]
       portcullis audit verify-bundle FILE [--key PEM_FILE] [--json]      (offline: needs only the bundle)
       portcullis audit public-key [--config FILE]`;

/** Exit codes: 0 verified, 1 a problem was found (each printed with writer and seq), 2 usage. */
export const auditCommand: CliCommand = {
  summary: 'verify the tamper-evident audit trail, export and verify bundles offline',
  usage: USAGE,
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parse(rest, {
      key: { type: 'string' }, 'no-bodies': { type: 'boolean' }, json: { type: 'boolean' }, since: { type: 'string' }, until: { type: 'string' }, out: { type: 'string' },
    });
    const pinned = values.key ? await readFile(resolve(io.cwd, values.key), 'utf8') : undefined;
    if (sub === 'verify-bundle') {
      if (positionals.length !== 1) throw new UsageError('give the bundle file');
      return verifyBundleFile(resolve(io.cwd, positionals[0]!), pinned, Boolean(values.json), io);
    }
    if (sub !== 'verify' && sub !== 'export' && sub !== 'public-key') throw new UsageError('expected verify, export, verify-bundle or public-key');
    const { openAuditRepo } = await import('../../store/audit-repo.ts');
    const s = await openStoreSession(values.config, io);
    try {
      const repo = openAuditRepo(s.store);
      if (sub === 'verify') {
        const { verifyStore, formatReport } = await import('../../audit/verify-store.ts');
        const r = await verifyStore({ repo, pinnedPublicKeyPem: pinned, bodies: !values['no-bodies'], now: Date.now() });
        if (values.json) printJson(io.stdout, verifyReportJson(r));
        else for (const line of formatReport(r)) print(io.stdout, line);
        return r.ok ? 0 : 1;
      }
      const log = await openCliAuditLog(s);
      if (sub === 'public-key') {
        printText(io.stdout, log.publicKey.publicKeyPem);
        print(io.stderr, `key id ${log.publicKey.keyId}`);
        return 0;
      }
      if (!values.out) throw new UsageError('--out FILE is required');
      const since = values.since ? parseTime(values.since, 'since') : 0;
      const until = values.until ? parseTime(values.until, 'until') : Date.now() + 1;
      const { exportBundle } = await import('../../audit/bundle.ts');
      const { auditAdminAction } = await import('../../audit/runtime.ts');
      const bundle = await exportBundle({ repo, log, since, until, now: Date.now() });
      await writeFile(resolve(io.cwd, values.out), JSON.stringify(bundle) + '\n', { mode: 0o600 });
      await auditAdminAction(log, { actor: cliActor(), action: 'audit.export', target: null, details: { since, until, entries: bundle.entries.length } });
      await log.close();
      print(io.stdout, `wrote ${bundle.entries.length} entries from ${bundle.manifest.writers.length} writer(s), ${bundle.checkpoints.length} checkpoint(s) to ${values.out}; signing key ${bundle.key_id}`);
      return 0;
    } finally {
      await s.close();
    }
  },
};

async function verifyBundleFile(file: string, pinned: string | undefined, json: boolean, io: CliIo): Promise<number> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    print(io.stderr, `cannot read ${file}: ${err instanceof SyntaxError ? 'not JSON (truncated?)' : (err as Error).message}`);
    return 1;
  }
  const r = verifyBundle(raw, { pinnedPublicKeyPem: pinned });
  if (json) printJson(io.stdout, bundleReportJson(r));
  else for (const line of formatBundleReport(r)) print(io.stdout, line);
  return r.ok ? 0 : 1;
}

export function formatBundleReport(r: BundleReport): string[] {
  const lines = [`audit bundle: ${r.ok ? 'VERIFIED' : 'FAILED'} — ${r.entries} entries from ${r.writers.length} writer(s), ${r.checkpoints} checkpoint(s), range ${r.since ?? '?'} .. ${r.until ?? '?'}`];
  lines.push(r.keyTrust === 'pinned' ? `signing key ${r.keyId ?? '?'} (pinned)` : `signing key ${r.keyId ?? '?'} taken from the bundle: compare it with the published key id, or pass --key`);
  for (const w of r.writers) lines.push(`  writer ${w.writer}: seq ${w.firstSeq ?? '-'}..${w.lastSeq ?? '-'}, sealed through seq ${w.sealedSeq}`);
  for (const p of r.problems) lines.push(`  PROBLEM ${p.code}: ${p.message}`);
  for (const p of r.warnings) lines.push(`  warning ${p.code}: ${p.message}`);
  return lines;
}

/** The CLI's own chain (admin actions taken from this host's command line). */

function parseTime(v: string, name: string): number {
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`--${name} must be an ISO date`);
  return t;
}
