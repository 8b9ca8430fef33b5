/**
 * The names lexicon, taken from the model compromise ships (npm `compromise`, exact-pinned 14.17.0: about 3,000
 * first names, 900 last names, 220 people, 1,300 countries, regions and cities, and 18,000 common words with
 * their part of speech). Read once when the recognizer loads.
 */
import type { NameLexicon } from './names.ts';

/** Tags of compromise's lexicon (`nlp.model().one.lexicon`: word → tag or tags). */
type Lexicon = Record<string, string | string[]>;

const FIRST = new Set(['FirstName', 'MaleName', 'FemaleName']);
const PLACE = new Set(['City', 'Region', 'Place']);
/** Tags of words that are not names even when capitalized (a run of capitalized words stops there). */
const NAME_LIKE = new Set([...FIRST, 'LastName', 'Person', 'Country', 'ProperNoun', 'Honorific', 'Organization', 'SportsTeam', 'Demonym', ...PLACE]);

export function lexiconFrom(lexicon: Lexicon): NameLexicon {
  const first = new Set<string>();
  const last = new Set<string>();
  const person = new Set<string>();
  const place = new Map<string, 'country' | 'place'>();
  const common = new Set<string>();
  for (const [word, tag] of Object.entries(lexicon)) {
    const tags = Array.isArray(tag) ? tag : [tag];
    if (tags.some((t) => FIRST.has(t))) first.add(word);
    if (tags.includes('LastName')) last.add(word);
    if (tags.includes('Person')) person.add(word);
    if (tags.includes('Country')) place.set(word, 'country');
    else if (tags.some((t) => PLACE.has(t))) place.set(word, 'place');
    if (!word.includes(' ') && !tags.some((t) => NAME_LIKE.has(t))) common.add(word);
  }
  return { first, last, person, place, common };
}
