/**
 * OpenID Connect Discovery 1.0 §4 metadata fetch, used to find `jwks_uri` for bearer/workload issuers. The
 * returned `issuer` must equal the configured one exactly (§4.3), otherwise an attacker-controlled document could
 * point us at its own keys.
 */
export async function discoverMetadata(issuer: string, timeoutMs: number): Promise<Record<string, unknown>> {
  assertSafeIdpUrl(issuer);
  const url = issuer.replace(/\/$/, '') + '/.well-known/openid-configuration';
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error', headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`discovery for ${issuer} failed with HTTP ${res.status}`);
  const meta = (await res.json()) as Record<string, unknown>;
  if (meta.issuer !== issuer) throw new Error(`discovery for ${issuer} returned a different issuer`);
  return meta;
}

/** IdP endpoints must be HTTPS; plain HTTP is accepted only on loopback (tests, local IdPs). */
export function assertSafeIdpUrl(raw: string): void {
  const u = new URL(raw);
  if (u.protocol === 'https:') return;
  if (u.protocol === 'http:' && isLoopbackHost(u.hostname)) return;
  throw new Error(`IdP URL must use https: ${u.origin}`);
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
