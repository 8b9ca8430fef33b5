import { readFile } from 'node:fs/promises';

/**
 * The complete JSON lines of a file another process (a file sink) is still appending to: a line is complete only
 * once its newline is written, so a partly written last line is left for the next read instead of failing to
 * parse. A file that does not exist yet reads as no lines.
 */
export async function readJsonLines<T = Record<string, unknown>>(path: string): Promise<T[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}
