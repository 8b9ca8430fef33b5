import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type { Route } from '../http/route.ts';

/**
 * The web console (docs/console.md): a few static files served from memory, no build step. Everything it shows
 * comes from the admin API with the caller's own credential, so the console has no authority of its own; these
 * routes need none. Files are read once at start; only the names below exist (no path from the request ever
 * reaches the file system).
 */
const ASSETS = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'usage.js': 'text/javascript; charset=utf-8',
  'admin.js': 'text/javascript; charset=utf-8',
  'evidence.js': 'text/javascript; charset=utf-8',
  'conversation.js': 'text/javascript; charset=utf-8',
  'diff.js': 'text/javascript; charset=utf-8',
  'replay.js': 'text/javascript; charset=utf-8',
  'investigations.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  // The charting library (uPlot, MIT, a pinned dependency) is served from this origin like the console itself:
  // no CDN, and the CSP stays 'self' only.
  'uPlot.esm.js': 'text/javascript; charset=utf-8',
  'uPlot.min.css': 'text/css; charset=utf-8',
} as const;
type AssetName = keyof typeof ASSETS;

/**
 * Scripts and styles from this origin only, no inline code, no framing, API calls to this origin only: data shown
 * by the console is set as text, and even a mistake there could not run a script or send it elsewhere.
 */
const HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const DIR = new URL('../../web/console/', import.meta.url);
const VENDOR: Partial<Record<AssetName, URL>> = {
  'uPlot.esm.js': new URL(import.meta.resolve('uplot/dist/uPlot.esm.js')),
  'uPlot.min.css': new URL(import.meta.resolve('uplot/dist/uPlot.min.css')),
};

export async function loadConsoleRoutes(): Promise<Route[]> {
  const files = new Map<AssetName, Buffer>();
  for (const name of Object.keys(ASSETS) as AssetName[]) files.set(name, await readFile(VENDOR[name] ?? new URL(name, DIR)));
  const serve = (res: ServerResponse, name: AssetName): void => {
    const body = files.get(name)!;
    res.writeHead(200, { ...HEADERS, 'content-type': ASSETS[name], 'content-length': body.length });
    res.end(body);
  };
  return [
    {
      method: 'GET', path: '/console',
      async handler(_req, res) {
        res.writeHead(301, { location: '/console/', 'content-length': 0 }).end();
      },
    },
    { method: 'GET', path: '/console/', handler: async (_req, res) => serve(res, 'index.html') },
    {
      method: 'GET', path: '/console/:file',
      async handler(_req, res, params) {
        const name = params.file as AssetName;
        if (!Object.hasOwn(ASSETS, name) || name === 'index.html') {
          res.writeHead(404, { ...HEADERS, 'content-type': 'text/plain; charset=utf-8' }).end('not found');
          return;
        }
        serve(res, name);
      },
    },
  ];
}
