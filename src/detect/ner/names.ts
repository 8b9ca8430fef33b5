/**
 * PERSON and LOCATION from a lexicon and the shape of the text: one pass over the words, no model. A run of
 * capitalized words (with name particles such as `van der` between them) is a person when it holds a known first
 * name, last name or person, or follows an honorific (`Mrs.`, `Dr`); it is a location when it is a known place
 * (country, region, city); a lower-case country after `from`/`in`/`at`/`to` is a location too. Unknown capitalized
 * runs count as names only with weaker scores (context words such as `name`, `dear`, `called` lift them).
 *
 * The lexicon comes from compromise's shipped model (see lexicon.ts); why not its parser: docs/detection.md#names.
 * Pure and synchronous, linear in the text (one regex pass, a map lookup per word).
 */
import type { Candidate, Detector } from '../detectors/types.ts';

export interface NameLexicon {
  readonly first: ReadonlySet<string>;
  readonly last: ReadonlySet<string>;
  /** Whole person names and single words that are mostly names (`lee`, `bill gates`). */
  readonly person: ReadonlySet<string>;
  /** Places by lower-case name, multi-word too; `country` marks those safe to take in lower case. */
  readonly place: ReadonlyMap<string, 'country' | 'place'>;
  /** Lower-case words that are something else (verbs, determiners, common nouns): they end a run. */
  readonly common: ReadonlySet<string>;
}

const HONORIFICS = new Set(['mr', 'mrs', 'ms', 'miss', 'mx', 'dr', 'prof', 'sir', 'dame', 'lady', 'lord', 'madam', 'mme', 'mlle', 'herr', 'frau', 'sr', 'sra', 'srta', 'dott', 'sig', 'rev', 'fr']);
const PARTICLES = new Set(['van', 'der', 'den', 'de', 'del', 'della', 'di', 'da', 'dos', 'das', 'du', 'la', 'le', 'von', 'zu', 'bin', 'ibn', 'al', 'el', 'ter', 'ten', 'y']);
/** A run ending in one of these names a company or a street, not a person. */
const NOT_PERSON_END = new Set(['ltd', 'inc', 'llc', 'gmbh', 'corp', 'co', 'plc', 'ag', 'sa', 'group', 'bank', 'university', 'hotel', 'street', 'st', 'avenue', 'ave', 'road', 'rd', 'lane', 'drive', 'boulevard', 'way', 'court', 'square', 'park']);
/** Degrees and generational suffixes after a name are not part of it in presidio-research's labels. */
const SUFFIXES = new Set(['md', 'dds', 'phd', 'jr', 'sr', 'ii', 'iii', 'iv', 'dvm', 'esq']);
/** Street-type words before a run (`Via Carlo Cattaneo`, `Rua Joaquim …`): the run is a street, not a person. */
const STREET_BEFORE = new Set(['via', 'viale', 'piazza', 'corso', 'rua', 'avenida', 'calle', 'carrer', 'rue', 'avenue', 'boulevard', 'ul', 'trg', 'strada', 'plaza', 'paseo', 'travessa', 'alameda', 'rodovia', 'street', 'road', 'st']);
/** Capitalized common words that begin place names (`South Africa`, `New Zealand`, `Las Toscas`). */
const PLACE_PREFIXES = new Set(['south', 'north', 'east', 'west', 'new', 'united', 'saint', 'san', 'santa', 'las', 'los', 'el', 'port', 'fort', 'mount', 'lake', 'great', 'upper', 'lower', 'central', 'papua', 'sri', 'costa', 'puerto', 'hong', 'saudi']);
const PLACE_PREPOSITIONS = new Set(['from', 'in', 'at', 'to', 'near', 'visit', 'visiting', 'of']);

/** Longest finding (the streaming hold-back covers it): a longer capitalized run is a title or a heading. */
const MAX_NAME = 64;

const WORD = /\p{L}[\p{L}\p{M}'’]*(?:-\p{L}[\p{L}\p{M}'’]*)*/gu;
const UPPER = /^\p{Lu}/u;

interface Token { start: number; end: number; lower: string; cap: boolean }

export function nameDetector(lex: NameLexicon): Detector {
  return {
    id: 'names',
    types: ['PERSON', 'LOCATION'],
    maxLength: MAX_NAME,
    context: [{ words: ['name', 'named', 'called', 'dear', 'hi', 'hello', 'thanks', 'signed', 'regards', 'patient', 'customer', 'partner', 'wife', 'husband', 'son', 'daughter', 'friend', 'colleague', 'starring', 'directed by', 'by'], boost: 0.15, window: 24 }],
    find(text, out) {
      const run: Token[] = [];
      let prevEnd = 0;
      let prevLower = '';
      let before = '';
      let honorific = false;
      const flush = (next: string) => {
        if (run.length > 0) emit(lex, { text, run, honorific, before, next }, out);
        run.length = 0;
        honorific = false;
      };
      WORD.lastIndex = 0;
      for (let m = WORD.exec(text); m; m = WORD.exec(text)) {
        const word = m[0];
        const c = word.charCodeAt(0);
        // ASCII lower-case letters are the common case: no Unicode test, no lower-casing.
        const cap = c < 128 ? c >= 65 && c <= 90 : UPPER.test(word);
        const lower = cap || c >= 128 ? word.toLowerCase() : word;
        if ((run.length > 0 || honorific) && !joinedBySpace(text, prevEnd, m.index)) flush(''); // `Dr, Smith` is no title
        if (run.length === 0) before = prevLower;
        if (cap && run.length === 0 && HONORIFICS.has(lower)) {
          honorific = true;
          if (text.charCodeAt(m.index + word.length) === 46) WORD.lastIndex++; // `Dr.` joins the name after it
        } else if (cap && (!lex.common.has(lower) || (run.length === 0 && PLACE_PREFIXES.has(lower)))) {
          const possessive = /['’]s$/.test(lower);
          run.push({ start: m.index, end: m.index + word.length - (possessive ? 2 : 0), lower: possessive ? lower.slice(0, -2) : lower, cap });
          if (possessive) flush(''); // `Elizabeth Mitchell's Cautionary Tales`: the name ends at the 's
        } else if (run.length > 0 && !cap && PARTICLES.has(lower)) {
          run.push({ start: m.index, end: m.index + word.length, lower, cap }); // trimmed by emit if nothing follows
        } else {
          flush(lower);
          if (!cap && PLACE_PREPOSITIONS.has(prevLower) && lex.place.get(lower) === 'country') {
            out.push({ type: 'LOCATION', start: m.index, end: m.index + word.length, score: 0.6, detector: 'names' });
          }
        }
        prevEnd = WORD.lastIndex;
        prevLower = lower;
      }
      flush('');
    },
  };
}

/** One or two spaces (not a line break, not punctuation) between two words keep them in one name. */
function joinedBySpace(text: string, from: number, to: number): boolean {
  const n = to - from;
  return (n === 1 || n === 2) && text.charCodeAt(from) === 32 && text.charCodeAt(to - 1) === 32;
}

interface RunContext {
  readonly text: string;
  readonly run: readonly Token[];
  /** A title (`Mrs.`, `Dr`) came right before. */
  readonly honorific: boolean;
  /** Lower-case words before and after the run ('' at punctuation). */
  readonly before: string;
  readonly next: string;
}

function emit(lex: NameLexicon, r: RunContext, out: Candidate[]): void {
  const { text, run, honorific } = r;
  let end = run.length;
  while (end > 0 && (!run[end - 1]!.cap || SUFFIXES.has(run[end - 1]!.lower))) end--;
  if (end === 0) return;
  const words = run.slice(0, end);
  const lowers = words.map((t) => t.lower);
  if (NOT_PERSON_END.has(lowers.at(-1)!) || NOT_PERSON_END.has(r.next)) return;
  const start = words[0]!.start;
  const stop = words.at(-1)!.end;
  if (stop - start > MAX_NAME) return;
  const push = (type: string, score: number): void => void out.push({ type, start, end: stop, score, detector: 'names' });
  const whole = lowers.join(' ');
  if (!honorific && lex.place.has(whole)) return push('LOCATION', 0.8);
  if (honorific) return push('PERSON', 0.85);
  if (PLACE_PREFIXES.has(lowers[0]!) && lex.common.has(lowers[0]!)) return; // `New Deal`: not a known place, not a name
  // House numbers and street words around it make the run a street name: `92 Eusebio Dávila 57`, `Via Carlo …`.
  if (STREET_BEFORE.has(r.before) || isDigit(text.charCodeAt(skipBack(text, start, ' ,') - 1)) || isDigit(text.charCodeAt(skipAhead(text, stop, ' ,')))) return;
  if (lex.person.has(whole)) return push('PERSON', 0.85);
  const first = lex.first.has(lowers[0]!);
  const known = lowers.some((w) => lex.first.has(w) || lex.last.has(w) || lex.person.has(w));
  if (first && words.length > 1) return push('PERSON', 0.85);
  if (known) return push('PERSON', words.length > 1 ? 0.8 : 0.7);
  if (lowers.some((w) => lex.place.has(w))) return;
  // Unknown capitalized words: a name more often than not when not at the start of a sentence or line, and not
  // an acronym; a single one needs a context word (`named`, `dear`, `starring`).
  if (words.some((t) => text.slice(t.start, t.end) === t.lower.toUpperCase())) return;
  // After a possessive (`Mitchell's Cautionary Tales`) they name a thing.
  const at = skipBack(text, start, ' \t');
  if (at === 0 || '.!?:"“>\n'.includes(text[at - 1]!) || (at < start && /['’]s$/.test(text.slice(Math.max(0, at - 2), at)))) return;
  push('PERSON', words.length > 1 ? 0.55 : 0.4);
}

/** Index after skipping up to 2 characters of `chars` backwards from `i`. */
function skipBack(text: string, i: number, chars: string): number {
  for (let n = 0; n < 2 && i > 0 && chars.includes(text[i - 1]!); n++) i--;
  return i;
}

function skipAhead(text: string, i: number, chars: string): number {
  for (let n = 0; n < 2 && i < text.length && chars.includes(text[i]!); n++) i++;
  return i;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
