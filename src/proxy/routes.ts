import type { ProviderConfig, RouteConfig } from '../config/schema.ts';
import type { Family } from './endpoints.ts';

/** A compiled route: the client-facing model (exact or glob) to a provider and upstream model name. */
export interface ResolvedRoute {
  /** Route pattern as configured (for records and policies). */
  pattern: string;
  provider: string;
  upstreamModel: string;
}

interface CompiledRoute {
  pattern: string;
  exact: string | undefined;
  re: RegExp | undefined;
  provider: string;
  family: Family;
  upstreamModel: string | null;
}

/** Which API families a provider type can serve (no cross-protocol translation). */
export function familiesOf(type: ProviderConfig['type']): Family[] {
  if (type === 'anthropic') return ['anthropic'];
  if (type === 'mock') return ['openai', 'anthropic'];
  return ['openai'];
}

export function globToRegExp(glob: string): RegExp {
  const src = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${src}$`);
}

/** Routes compiled once per config; first match in config order wins. */
export class RouteTable {
  readonly #routes: CompiledRoute[] = [];

  constructor(routes: RouteConfig[], providers: ProviderConfig[]) {
    const types = new Map(providers.map((p) => [p.name, p.type]));
    for (const r of routes) {
      const type = types.get(r.provider);
      if (!type) throw new TypeError(`route ${r.model} names unknown provider ${r.provider}`);
      const isGlob = /[*?]/.test(r.model);
      for (const family of familiesOf(type)) {
        this.#routes.push({
          pattern: r.model,
          exact: isGlob ? undefined : r.model,
          re: isGlob ? globToRegExp(r.model) : undefined,
          provider: r.provider,
          family,
          upstreamModel: r.upstream_model ?? null,
        });
      }
    }
  }

  resolve(model: string, family: Family): ResolvedRoute | undefined {
    for (const r of this.#routes) {
      if (r.family !== family) continue;
      if (r.exact !== undefined ? r.exact === model : r.re!.test(model)) {
        return { pattern: r.pattern, provider: r.provider, upstreamModel: r.upstreamModel ?? model };
      }
    }
    return undefined;
  }

  /** Every route a family can use (for candidate lists and /v1/models). */
  candidates(family: Family): ResolvedRoute[] {
    return this.#routes
      .filter((r) => r.family === family)
      .map((r) => ({ pattern: r.pattern, provider: r.provider, upstreamModel: r.upstreamModel ?? r.pattern }));
  }

  /** Exact model names clients may ask for (globs cannot be listed). */
  exactModels(family: Family): string[] {
    return [...new Set(this.#routes.filter((r) => r.family === family && r.exact !== undefined).map((r) => r.exact!))];
  }
}
