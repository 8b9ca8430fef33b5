import type { IdentityEvent } from '../identity/events.ts';
import type { MapContext } from './map-exchange.ts';
import { CLASS, SEVERITY, baseEvent, user, type OcsfEvent, type Severity, type Status } from './ocsf-base.ts';
import { safeIdent, safeIp, safeName, safeNames } from '../core/sanitize.ts';

/** Authentication events → OCSF Authentication (3002). Activities: 1 Logon, 2 Logoff, 3 Authentication Ticket. */
const ACTIVITY: Record<IdentityEvent['type'], { activity: [number, string]; status: Status; severity: Severity }> = {
  'auth.login.succeeded': { activity: [1, 'Logon'], status: 'success', severity: SEVERITY.informational },
  'auth.login.failed': { activity: [1, 'Logon'], status: 'failure', severity: SEVERITY.low },
  'auth.token.minted': { activity: [3, 'Authentication Ticket'], status: 'success', severity: SEVERITY.informational },
  'auth.token.refreshed': { activity: [3, 'Authentication Ticket'], status: 'success', severity: SEVERITY.informational },
  'auth.token.revoked': { activity: [2, 'Logoff'], status: 'success', severity: SEVERITY.informational },
  'auth.token.rejected': { activity: [1, 'Logon'], status: 'failure', severity: SEVERITY.low },
  'auth.rate_limited': { activity: [1, 'Logon'], status: 'failure', severity: SEVERITY.medium },
};

/** OCSF auth_protocol_id: 4 OpenID, 5 SAML, 6 OAUTH 2.0, 99 Other. */
function protocol(e: IdentityEvent): [number, string] {
  if (e.method === 'saml' || e.source?.startsWith('saml:')) return [5, 'SAML'];
  if (e.method === 'token_exchange' || e.source?.startsWith('workload:')) return [6, 'OAUTH 2.0'];
  if (e.source?.startsWith('oidc:') || e.source?.startsWith('bearer:')) return [4, 'OpenID'];
  return [99, 'Portcullis token'];
}

export function mapIdentity(e: IdentityEvent, uid: string, c: MapContext): OcsfEvent {
  const h = c.hasher;
  const a = ACTIVITY[e.type];
  const [protoId, protoName] = protocol(e);
  const reason = safeIdent(e.reason, h);
  return baseEvent(
    { uid, code: e.type, time: e.at, cls: CLASS.authentication, activity: a.activity, severity: a.severity, status: a.status, statusDetail: reason, product: c.product, message: e.type },
    {
      user: user({ uid: safeName(e.subject, h), groups: safeNames(e.groups, h) }),
      src_endpoint: e.sourceIp ? { ip: safeIp(e.sourceIp) } : undefined,
      auth_protocol_id: protoId,
      auth_protocol: protoName,
      session: e.credentialId ? { uid: safeName(e.credentialId, h) } : undefined,
      service: { name: 'portcullis' },
      unmapped: { portcullis: { source: safeName(e.source, h), method: safeIdent(e.method, h), reason } },
    },
  );
}
