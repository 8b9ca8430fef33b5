import type { ServerResponse } from 'node:http';

/**
 * Writes and, when the socket's buffer is full, waits for `drain` (or `close`: a client that went away never
 * drains). Both listeners are removed on either event: `Promise.race` of two `events.once` would leave the loser's
 * listeners on the response for every full buffer, a leak as long as the response (a large export fills it
 * thousands of times).
 */
export async function writeWithBackpressure(res: ServerResponse, text: string): Promise<void> {
  if (res.write(text)) return;
  await new Promise<void>((ok) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      ok();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
