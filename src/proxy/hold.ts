import type { ServerResponse } from 'node:http';
import type { ExchangeHold } from './context.ts';

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

/**
 * What a step that holds a request (approvals) may do with the client connection: learn that the client went
 * away, and keep a streaming client alive. The first keep-alive of a stream sends 200 + SSE headers and then a
 * comment line (`:` lines are ignored by every SSE parser — HTML Standard, "Server-sent events", interpretation
 * of the event stream); a later refusal becomes the protocol's in-stream error event (respond.ts handles a
 * response whose headers were sent). A non-streamed request cannot be kept alive without fixing its status, so
 * it just waits. The listener is created lazily: requests that never hold pay nothing.
 */
export function holdControl(res: ServerResponse, stream: boolean, cleanups: (() => void)[]): ExchangeHold {
  let abort: AbortController | undefined;
  return {
    get signal(): AbortSignal {
      if (!abort) {
        const ac = new AbortController();
        const onClose = (): void => {
          if (!res.writableFinished) ac.abort();
        };
        res.on('close', onClose);
        cleanups.push(() => res.off('close', onClose));
        if (res.destroyed) ac.abort();
        abort = ac;
      }
      return abort.signal;
    },
    keepAlive(): void {
      if (!stream || res.writableEnded || res.destroyed) return;
      if (!res.headersSent) res.writeHead(200, SSE_HEADERS);
      res.write(': waiting for approval\n\n');
    },
  };
}
