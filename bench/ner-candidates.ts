/**
 * How the names recognizer was chosen (docs/detection.md#names): PERSON/LOCATION precision and recall at IoU >= 0.9
 * on presidio-research generated_large and throughput (MB per CPU-second, one core, after a warm-up pass) of
 *  - compromise 14.17.0, its parser (`nlp(text).people()` / `.places()`),
 *  - wink-nlp 2.4.0 + wink-eng-lite-web-model 1.8.1 (the model has no PERSON entity: runs of PROPN tokens),
 *  - the shipped recognizer (src/detect/ner/: compromise's lexicon, one regex pass).
 * Run: node bench/ner-candidates.ts [EVAL_PII_CORPUS=path]. Slow (the parsers take minutes on the 2,109 texts).
 */
import { readFileSync } from 'node:fs';
import { evaluate, type Sample } from '../src/detect/detectors/evaluate.ts';
import type { Finding } from '../src/core/findings.ts';
import { loadNameRecognizer } from '../src/detect/ner/index.ts';
import { compileScanner } from '../src/detect/scanner.ts';

const path = process.env.EVAL_PII_CORPUS ?? new URL('../test/detect/corpora/presidio-research-generated_large.json', import.meta.url).pathname;
const raw = JSON.parse(readFileSync(path, 'utf8')) as { full_text: string; spans: { entity_type: string; start_position: number; end_position: number }[] }[];
const samples: Sample[] = raw.map((r) => ({ text: r.full_text, spans: r.spans.map((s) => ({ type: s.entity_type, start: s.start_position, end: s.end_position })) }));
const bytes = samples.reduce((n, s) => n + Buffer.byteLength(s.text), 0);
const span = (type: string, start: number, end: number): Finding => ({ type, start, end, score: 1, detector: 'candidate' });

interface Json { offset: { start: number; length: number } }
interface Doc { people(): { json(o: object): Json[] }; places(): { json(o: object): Json[] } }
const nlp = (await import('compromise')).default as unknown as (t: string) => Doc;
function compromiseParser(t: string): Finding[] {
  const doc = nlp(t);
  return [['PERSON', doc.people()], ['LOCATION', doc.places()]].flatMap(([type, sel]) => (sel as { json(o: object): Json[] }).json({ offset: true }).map((j) => {
    let end = j.offset.start + j.offset.length;
    while (end > j.offset.start && /[\s.,!?;:'")]/.test(t[end - 1]!)) end--;
    return span(type as string, j.offset.start, end);
  }));
}

interface WinkDoc { tokens(): { out(f?: unknown): string[] } }
const winkNLP = (await import('wink-nlp')).default as unknown as (m: unknown) => { readDoc(t: string): WinkDoc; its: { pos: unknown } };
const wink = winkNLP((await import('wink-eng-lite-web-model')).default);
function winkPropn(t: string): Finding[] {
  const doc = wink.readDoc(t);
  const words = doc.tokens().out();
  const pos = doc.tokens().out(wink.its.pos);
  const out: Finding[] = [];
  let at = 0;
  let run: [number, number] | undefined;
  words.forEach((w, i) => {
    const s = t.indexOf(w, at);
    if (s >= 0) at = s + w.length;
    if (pos[i] === 'PROPN' && s >= 0) run = run ? [run[0], at] : [s, at];
    else if (run) {
      out.push(span('PERSON', run[0], run[1]));
      run = undefined;
    }
  });
  if (run) out.push(span('PERSON', run[0], run[1]));
  return out;
}

const lexicon = compileScanner({ builtIns: ['names'], extra: [await loadNameRecognizer()] });
const candidates: [string, (t: string) => Finding[]][] = [['compromise parser', compromiseParser], ['wink-nlp PROPN runs', winkPropn], ['lexicon recognizer (shipped)', (t) => lexicon.scan(t)]];
for (const [name, predict] of candidates) {
  for (const s of samples.slice(0, 200)) predict(s.text); // warm-up
  const r = evaluate(samples, predict, { types: ['PERSON', 'LOCATION'] });
  const c0 = process.cpuUsage();
  for (const s of samples) predict(s.text);
  const c = process.cpuUsage(c0);
  const mbs = bytes / 1e6 / ((c.user + c.system) / 1e6);
  const f = (x: { precision: number; recall: number }) => `P ${x.precision.toFixed(2)} R ${x.recall.toFixed(2)}`;
  console.log(`${name.padEnd(30)} PERSON ${f(r.PERSON!)}  LOCATION ${f(r.LOCATION!)}  ${mbs.toFixed(2)} MB/CPU-s`);
}
