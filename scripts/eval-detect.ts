/**
 * `npm run eval:detect`: precision and recall per entity type of the built-in detectors on
 *  - the presidio-research generated_large corpus (../shared/corpora/pii/, or EVAL_PII_CORPUS), and
 *  - the synthetic secrets/PII corpus test/detect/corpus.jsonl (with look-alike negatives),
 * presidio-research scoring: a predicted span counts when its character IoU with a labelled span of the same type
 * is >= 0.9. Also reports scanning throughput on the corpus text. Prints a table; `--json` prints JSON.
 */
import { existsSync, readFileSync } from 'node:fs';
import { evaluate, falsePositiveRate, type Sample, type TypeScore } from '../src/detect/detectors/evaluate.ts';
import { compileScanner } from '../src/detect/scanner.ts';

const root = new URL('..', import.meta.url).pathname;
const presidioPath = process.env.EVAL_PII_CORPUS ?? `${root}../shared/corpora/pii/presidio-research-generated_large.json`;
const scanner = compileScanner();
const predict = (t: string) => scanner.scan(t);
const json = process.argv.includes('--json');
const report: Record<string, unknown> = {};

if (existsSync(presidioPath)) {
  const raw = JSON.parse(readFileSync(presidioPath, 'utf8')) as { full_text: string; spans: { entity_type: string; start_position: number; end_position: number }[] }[];
  const samples: Sample[] = raw.map((r) => ({ text: r.full_text, spans: r.spans.map((s) => ({ type: s.entity_type, start: s.start_position, end: s.end_position })) }));
  const types = ['CREDIT_CARD', 'IBAN_CODE', 'EMAIL_ADDRESS', 'IP_ADDRESS', 'US_SSN', 'PHONE_NUMBER', 'US_DRIVER_LICENSE', 'PERSON', 'LOCATION', 'DATE_TIME'];
  const t0 = performance.now();
  report.presidio = evaluate(samples, predict, { types });
  const bytes = samples.reduce((n, s) => n + Buffer.byteLength(s.text), 0);
  report.presidioThroughputMBs = bytes / 1e6 / ((performance.now() - t0) / 1000);
} else report.presidio = `corpus not found at ${presidioPath}`;

const synthetic = readFileSync(`${root}test/detect/corpus.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Sample);
report.synthetic = evaluate(synthetic, predict, { types: ['CREDIT_CARD', 'IBAN_CODE', 'EMAIL_ADDRESS', 'IP_ADDRESS', 'US_SSN', 'PHONE_NUMBER'] });
report.secrets = evaluate(synthetic, predict, { types: ['SECRET'], typeMap: (t) => (t.startsWith('SECRET_') ? 'SECRET' : t) });
report.secretsFalsePositiveRate = falsePositiveRate(synthetic, predict, (t) => t.startsWith('SECRET_'));
report.maxBoundedMatchLength = scanner.maxBoundedMatchLength;

if (json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
else {
  for (const [name, value] of Object.entries(report)) {
    if (typeof value !== 'object' || value === null) {
      console.log(`${name}: ${typeof value === 'number' ? value.toFixed(4) : String(value)}`);
      continue;
    }
    console.log(`\n${name}`);
    console.log('type'.padEnd(20), 'precision', 'recall', '  tp    fp    fn');
    for (const [type, r] of Object.entries(value as Record<string, TypeScore>)) {
      console.log(type.padEnd(20), r.precision.toFixed(3).padStart(9), r.recall.toFixed(3).padStart(6), String(r.tp).padStart(5), String(r.fp).padStart(5), String(r.fn).padStart(5));
    }
  }
}
