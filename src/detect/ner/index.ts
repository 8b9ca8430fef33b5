/**
 * The optional built-in names recognizer (config `detection.names`, docs/detection.md#names): PERSON and
 * LOCATION, offline, from the lexicon of the `compromise` npm package. `compromise` is an optional dependency,
 * imported only when the recognizer is enabled: a gateway that does not enable it never loads it, and one that
 * enables it without the package installed fails to start with NameRecognizerUnavailable.
 */
import type { Detector } from '../detectors/types.ts';
import { lexiconFrom } from './lexicon.ts';
import { nameDetector } from './names.ts';

export class NameRecognizerUnavailable extends Error {
  override readonly name = 'NameRecognizerUnavailable';
}

/** The package that provides the lexicon (exact version in package.json optionalDependencies). */
export const NAMES_PACKAGE = 'compromise';

interface Compromise { model(): { one: { lexicon: Record<string, string | string[]> } } }

/** Loads the lexicon (about 0.3 s, ~30 MB of heap) and returns the detector. */
export async function loadNameRecognizer(o: { importer?: (name: string) => Promise<unknown> } = {}): Promise<Detector> {
  const importer = o.importer ?? ((name: string) => import(name) as Promise<unknown>);
  let mod: unknown;
  try {
    mod = await importer(NAMES_PACKAGE);
  } catch (err) {
    throw new NameRecognizerUnavailable(`detection.names is enabled but the npm package '${NAMES_PACKAGE}' is not installed (npm install ${NAMES_PACKAGE})`, { cause: err });
  }
  const nlp = (mod as { default?: Compromise }).default;
  if (typeof nlp?.model !== 'function') throw new NameRecognizerUnavailable(`the installed '${NAMES_PACKAGE}' package has no lexicon (model())`);
  return nameDetector(lexiconFrom(nlp.model().one.lexicon));
}
