import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A non-proxy HTTP endpoint (admin API, identity/login endpoints, health). Paths use `:name` segments.
 * Handlers own the response; throwing a GatewayError produces a JSON error (see admin/respond.ts).
 */
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  handler(req: IncomingMessage, res: ServerResponse, params: Record<string, string>): Promise<void>;
}

interface CompiledRoute {
  method: string;
  re: RegExp;
  names: string[];
  route: Route;
}

/** Matches compiled once at construction; per request a linear scan over a handful of regexes. */
export class Router {
  readonly #routes: CompiledRoute[] = [];

  add(...routes: Route[]): this {
    for (const route of routes) {
      const names: string[] = [];
      const pattern = route.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:([a-zA-Z_]+)/g, (_m, n: string) => {
        names.push(n);
        return '([^/]+)';
      });
      this.#routes.push({ method: route.method, re: new RegExp(`^${pattern}$`), names, route });
    }
    return this;
  }

  /** `undefined` = no such path; `'method'` = path exists with another method. */
  match(method: string, path: string): { route: Route; params: Record<string, string> } | 'method' | undefined {
    let pathMatched = false;
    for (const r of this.#routes) {
      const m = r.re.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== method) continue;
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1]!)));
      return { route: r.route, params };
    }
    return pathMatched ? 'method' : undefined;
  }
}
