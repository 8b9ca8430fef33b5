/**
 * The console's page for a gateway whose public URL is `publicUrl` (which may carry a path prefix, e.g. behind a
 * reverse proxy): `<public_url>/console/`. Used where the gateway names it to others — approval links, and the one
 * login hand-off target besides loopback.
 */
export function consolePage(publicUrl: string): string {
  const base = new URL(publicUrl);
  return `${base.origin}${base.pathname.replace(/\/$/, '')}/console/`;
}
