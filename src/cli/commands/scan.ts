/**
 * `portcullis scan`: try detectors and content rules on a sample before turning them on. Reads a text (FILE or
 * stdin), prints the findings (type, offsets, score, rule, action) and the text as the provider would receive
 * it. `--jsonl` reads one JSON string per line and writes one result per line, for large corpora.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parse } from 'yaml';
import type { Direction } from '../../core/findings.ts';
import { applyActions, plan } from '../../detect/actions.ts';
import type { Detector } from '../../detect/detectors/types.ts';
import { loadNameRecognizer, NameRecognizerUnavailable } from '../../detect/ner/index.ts';
import { compileContentPolicy, ContentSectionError, DEFAULT_SCAN_SECTION, type CompiledContentPolicy } from '../../detect/policy-content.ts';
import { ConversationTokenizer } from '../../detect/tokenize/tokenizer.ts';
import { print, printJson, printText, UsageError, type CliCommand, type CliIo } from '../io.ts';
import { parseFlags } from './login.ts';

export interface ScanResult {
  findings: { type: string; start: number; end: number; score: number; detector: string; rule: string; action: string }[];
  masked: string;
  blocked: boolean;
}

export function scanText(policy: CompiledContentPolicy, text: string, direction: Direction): ScanResult {
  const scanner = policy.scanners[direction];
  if (!scanner) return { findings: [], masked: text, blocked: false };
  const planned = plan(scanner.scan(text), direction, policy.actionFor);
  const r = applyActions(text, planned, { direction, tokenizer: new ConversationTokenizer() });
  return {
    findings: r.applied.map((a) => ({ type: a.type, start: a.start, end: a.end, score: a.score, detector: a.detector, rule: a.rule, action: a.action })),
    masked: r.text,
    blocked: r.blocked.length > 0,
  };
}

export const scanCommand: CliCommand = {
  summary: 'show what the content detectors find in a text and what the provider would receive',
  usage: 'portcullis scan [--policy FILE] [--names] [--direction request|response] [--json | --jsonl] [FILE|-]',
  async run(args, io) {
    const { values, positionals } = parseFlags(args, {
      policy: { type: 'string' }, names: { type: 'boolean' }, json: { type: 'boolean' }, jsonl: { type: 'boolean' }, direction: { type: 'string' },
    });
    if (values.json && values.jsonl) throw new UsageError('--json and --jsonl are exclusive');
    if (positionals.length > 1) throw new UsageError('one input at most (FILE or -)');
    const direction = values.direction ?? 'request';
    if (direction !== 'request' && direction !== 'response') throw new UsageError('--direction must be request or response');
    const extra = values.names ? await namesRecognizer(io) : [];
    if (!extra) return 1;
    const policy = await loadPolicy(values.policy, io, extra);
    if (!policy) return 1;
    const input = positionals[0];
    if (values.jsonl) return scanLines(policy, direction, input, io);
    const text = input === undefined || input === '-' ? await readAll(io.stdin) : await readFile(resolve(io.cwd, input), 'utf8');
    const r = scanText(policy, text, direction);
    if (values.json) printJson(io.stdout, r);
    else printHuman(io.stdout, r);
    return 0;
  },
};

/** `--names`: the optional names recognizer, as a gateway with `detection.names.enabled` has it. */
async function namesRecognizer(io: CliIo): Promise<Detector[] | undefined> {
  try {
    return [await loadNameRecognizer()];
  } catch (err) {
    if (!(err instanceof NameRecognizerUnavailable)) throw err;
    print(io.stderr, err.message);
    return undefined;
  }
}

async function loadPolicy(file: string | undefined, io: CliIo, extraDetectors: readonly Detector[]): Promise<CompiledContentPolicy | undefined> {
  if (file === undefined) return compileContentPolicy(DEFAULT_SCAN_SECTION, { extraDetectors });
  let doc: unknown;
  try {
    doc = parse(await readFile(resolve(io.cwd, file), 'utf8'));
  } catch (err) {
    print(io.stderr, `cannot read policy ${file}: ${err instanceof Error ? err.message.split('\n')[0] : 'unreadable'}`);
    return undefined;
  }
  const section = doc !== null && typeof doc === 'object' ? (doc as Record<string, unknown>).content : undefined;
  if (section === undefined) {
    print(io.stderr, `policy ${file} has no content section`);
    return undefined;
  }
  try {
    // A hash mask needs the gateway's key; trying rules locally uses a throwaway one (hashes differ from the gateway's).
    return compileContentPolicy(section, { hashKey: 'portcullis-scan-preview', extraDetectors });
  } catch (err) {
    if (!(err instanceof ContentSectionError)) throw err;
    print(io.stderr, `invalid content section in ${file}:`, ...err.issues.map((i) => `  content.${i.path}: ${i.message}`));
    return undefined;
  }
}

async function scanLines(policy: CompiledContentPolicy, direction: Direction, input: string | undefined, io: CliIo): Promise<number> {
  const { createReadStream } = await import('node:fs');
  const stream = input === undefined || input === '-' ? io.stdin : createReadStream(resolve(io.cwd, input), 'utf8');
  let bad = 0;
  let line = 0;
  for await (const raw of createInterface({ input: stream, crlfDelay: Infinity })) {
    line++;
    if (raw.trim() === '') continue;
    let text: unknown;
    try {
      text = JSON.parse(raw);
    } catch {
      text = undefined;
    }
    if (typeof text !== 'string') {
      bad++;
      printJson(io.stdout, { line, error: 'each line must be one JSON string' }, { compact: true });
      continue;
    }
    const ok = printJson(io.stdout, scanText(policy, text, direction), { compact: true });
    if (!ok) await new Promise((r) => io.stdout.once('drain', r));
  }
  return bad > 0 ? 1 : 0;
}

function printHuman(out: NodeJS.WritableStream, r: ScanResult): void {
  if (r.findings.length === 0) print(out, 'no findings');
  for (const f of r.findings) {
    print(out, `${f.type.padEnd(24)} ${`${f.start}-${f.end}`.padEnd(12)} score ${f.score.toFixed(2)}  rule ${f.rule}  ${f.action}`);
  }
  if (r.blocked) print(out, 'BLOCKED: the exchange would be refused');
  print(out, '--- masked ---');
  printText(out, r.masked);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}
