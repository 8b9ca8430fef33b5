import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from './core/clock.ts';
import { GatewayError } from './core/errors.ts';
import { createLogger, errorName, type GatewayLogger } from './core/logger.ts';
import type { Principal } from './core/principal.ts';
import type { Config } from './config/schema.ts';
import { loadOrCreateMasterKey } from './crypto/master-key.ts';
import { Keyring } from './crypto/keyring.ts';
import { openStore } from './store/open.ts';
import type { Store } from './store/ports.ts';
import { ApiKeyAuthenticator } from './identity/api-key-authenticator.ts';
import type { AuthContext, Authenticator } from './identity/authenticator.ts';
import { createApiKey } from './identity/key-service.ts';
import { createIdentity, type Identity, type IdentityEvent } from './identity/index.ts';
import { openIdentityRepo } from './store/identity-repo.ts';
import { ExchangeRecorder } from './audit/recorder.ts';
import type { ExchangeObserver } from './audit/exchange-observer.ts';
import { createAdminActivity } from './admin/activity.ts';
import { auditRoutes } from './admin/audit-routes.ts';
import { eventsRoutes } from './admin/events-routes.ts';
import { adminRoutes } from './admin/routes.ts';
import { startEvidence, type Evidence } from './compose/evidence.ts';
import { loadConsoleRoutes } from './console/routes.ts';
import { startGovernance, type Governance } from './compose/governance.ts';
import { Router, type Route } from './http/route.ts';
import { GatewayMetrics } from './proxy/metrics.ts';
import { openGuard, type ExchangeGuard } from './proxy/guard.ts';
import { RouteTable } from './proxy/routes.ts';
import { createGatewayServer } from './proxy/server.ts';
import { startMcpFront } from './mcp/index.ts';
import { startProviders, type StartedProviders } from './providers.ts';

export interface GatewayOptions {
  config: Config;
  baseDir: string;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  logger?: GatewayLogger;
  /** Override `server.listen` (tests use 127.0.0.1:0). */
  listen?: string;
  /** Extra observers (tests, audit chain, events). */
  observers?: ExchangeObserver[];
  /** Also receives every authentication event (tests; the events pipeline gets them regardless). */
  onIdentityEvent?: (e: IdentityEvent) => void;
}

export interface GatewayHandle {
  url: string;
  port: number;
  store: Store;
  keyring: Keyring;
  metrics: GatewayMetrics;
  /** Set only on the first start of a fresh store: the bootstrap admin key (also written to a 0600 file). */
  bootstrapAdminKey: string | undefined;
  bootstrapAdminKeyFile: string | undefined;
  identity: Identity;
  /** Policy versions, approvals and budgets (src/compose/governance.ts). */
  governance: Governance;
  /** Audit trail and SIEM events (src/compose/evidence.ts). */
  evidence: Evidence;
  /** Swap the guard (policy + content) atomically; in-flight exchanges keep theirs. */
  setGuard(guard: ExchangeGuard): void;
  close(): Promise<void>;
}

/**
 * Composition root: the only place that wires concrete implementations together. A start that fails part-way
 * (wrong master key for the store, an unreachable sink, a port in use) closes what it had opened and rethrows,
 * so `portcullis serve` exits with the error instead of hanging on open handles.
 */
export async function startGateway(o: GatewayOptions): Promise<GatewayHandle> {
  const opened: (() => Promise<unknown>)[] = [];
  try {
    return await composeGateway(o, (close) => void opened.push(close));
  } catch (err) {
    for (const close of opened.reverse()) await close().catch(() => undefined);
    throw err;
  }
}

async function composeGateway(o: GatewayOptions, onFailedStart: (close: () => Promise<unknown>) => void): Promise<GatewayHandle> {
  const { config, baseDir } = o;
  const env = o.env ?? process.env;
  const clock = o.clock ?? systemClock;
  const logger = o.logger ?? createLogger(config.logging.level);
  const master = await loadOrCreateMasterKey(config.master_key, { baseDir, env });
  if (master.generatedAt) {
    logger.warn({ event: 'master_key_generated', path: master.generatedAt }, 'generated a new master key (mode 0600); back it up: without it recorded bodies and stored provider keys cannot be read');
  }
  const keyring = new Keyring(master.key);
  const store = await openStore(config.store.url, { baseDir, synchronous: config.store.sqlite?.synchronous, logger });
  onFailedStart(() => store.close());
  const abandoned = await store.exchanges.markAbandoned(clock.now());
  if (abandoned > 0) logger.warn({ event: 'exchanges_marked_incomplete', count: abandoned }, 'exchanges left in progress by an earlier run were marked incomplete');
  const bootstrap = await bootstrapAdmin({ store, clock, config, baseDir, logger });
  const providers = await startProviders({ config, env, baseDir, store, keyring, logger });
  onFailedStart(() => providers.close());

  const apiKeys = new ApiKeyAuthenticator({ repo: store.apiKeys, clock, roles: config.auth.roles, cacheTtlMs: config.auth.key_cache_ttl_ms });
  const authenticators: Authenticator[] = [apiKeys];
  // Identity needs the public URL (redirect URIs, SAML ACS), known only once listening; requests arriving in that
  // moment wait for it rather than being judged by an incomplete authenticator chain.
  let identityLoaded: () => void = () => undefined;
  const identityReady = new Promise<void>((ok) => (identityLoaded = ok));
  const authenticate = async (credential: string | undefined, ctx: AuthContext): Promise<Principal> => {
    await identityReady;
    if (!credential) throw new GatewayError('unauthenticated', 'Missing credential: send your Portcullis key as a Bearer token or x-api-key.', { details: { reason: 'missing' } });
    const a = authenticators.find((x) => x.accepts(credential));
    if (!a) throw new GatewayError('unauthenticated', 'Invalid or missing Portcullis API key.', { details: { reason: 'unrecognized' } });
    return a.authenticate(credential, ctx);
  };

  const metrics = new GatewayMetrics({ defaultMetrics: true });
  const evidence = await startEvidence({ config, store, keyring, clock, logger, baseDir, env, registry: metrics.registry });
  onFailedStart(() => evidence.close());
  let guard: ExchangeGuard = openGuard;
  let url = '';
  const routeTable = new RouteTable(config.routes, config.providers);
  const governance = await startGovernance({
    config, store, keyring, clock, logger, baseDir, env, routes: routeTable,
    setGuard: (g) => void (guard = g),
    publicUrl: () => config.server.public_url ?? url,
    recordApproval: (r) => evidence.recordApproval(r),
  });
  onFailedStart(() => governance.close());
  const recorder = new ExchangeRecorder({
    store, keyring, clock, recordBodies: config.recording.bodies, flushIntervalMs: config.recording.flush_interval_ms,
    // The audit chain first: an exchange that cannot be chained never goes upstream.
    observers: [evidence.audit.observer, evidence.events.exchangeObserver, ...governance.observers, ...(o.observers ?? [])],
  });
  const activity = createAdminActivity({
    requested: (r) => evidence.recordAdminRequest(r),
    record: (a) => evidence.recordAdmin(a),
    onRecordError: (err, action) => logger.error({ event: 'admin_action_unrecorded', reason: action, error_name: errorName(err) }, 'an admin action could not be recorded; its answer was withheld'),
  });
  const adminAuthenticate = activity.authenticate(authenticate);
  // MCP servers at /mcp/<name>: the same authenticate, guard (policy version) and recorder as the LLM endpoints.
  const mcp = await startMcpFront({ config, store, keyring, clock, logger, baseDir, env, recorder, authenticate, guard: () => guard, publicUrl: () => config.server.public_url ?? url, approvals: governance.approvals.gate });
  onFailedStart(() => mcp.close());
  const routes: Route[] = activity.wrap([
    ...adminRoutes({
      store, keyring, clock, authenticate: adminAuthenticate,
      onKeyRevoked: (id) => apiKeys.invalidate(id),
      onCredentialChanged: (name, key) => providers.runtimes.get(name)?.setApiKey(key),
      providers: config.providers.map((p) => ({ name: p.name, type: p.type, credentialSource: p.type === 'mock' ? 'built-in' : p.api_key === 'store' ? 'store' : p.api_key ? 'config-reference' : 'none' })),
    }),
    ...governance.routes(adminAuthenticate),
    ...auditRoutes({ store, repo: evidence.audit.repo, keyring, clock, log: evidence.audit.log, authenticate: adminAuthenticate }),
    ...eventsRoutes({ events: evidence.events, authenticate: adminAuthenticate }),
    ...mcp.adminRoutes(adminAuthenticate),
  ]);
  const router = new Router().add(...routes, ...mcp.routes, ...(await loadConsoleRoutes()));
  const server = createGatewayServer({
    pipeline: {
      clock, logger, metrics, recorder, authenticate,
      routes: routeTable,
      providers: providers.runtimes,
      guard: () => guard,
      limits: { maxBodyBytes: config.server.max_body_bytes, bodyTimeoutMs: config.server.request_body_timeout_ms, trustProxy: config.server.trust_proxy },
    },
    router,
    metrics,
    logger,
    ready: () => store.ping(),
    limits: {
      headersTimeoutMs: config.server.headers_timeout_ms,
      keepAliveTimeoutMs: config.server.keep_alive_timeout_ms,
      maxHeaderSize: config.server.max_header_size,
      maxHeadersCount: config.server.max_headers_count,
    },
  });
  const { host, port } = splitListen(o.listen ?? config.server.listen);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok());
  });
  onFailedStart(() => new Promise<void>((ok) => {
    server.close(() => ok());
    server.closeAllConnections();
  }));
  const addr = server.address() as AddressInfo;
  url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  const identity = await createIdentity({
    config, repo: openIdentityRepo(store), keyring, clock, env, baseDir, authenticate,
    publicUrl: config.server.public_url ?? url,
    emit: (e) => {
      logger.info({ event: e.type, subject: e.subject, reason: e.reason, source: e.source, credential_id: e.credentialId }, 'identity event');
      evidence.events.identityEmit(e);
      o.onIdentityEvent?.(e);
    },
  }).finally(identityLoaded);
  // API keys get the same bad-credential flood guard as minted tokens and JWTs.
  authenticators.splice(0, authenticators.length, identity.guard(apiKeys, 'api_key'), ...identity.authenticators);
  router.add(...identity.routes);
  const purge = setInterval(() => {
    identity.purge().catch((err: unknown) => logger.warn({ event: 'identity_purge_failed', error_name: errorName(err) }, 'identity purge failed'));
  }, 10 * 60_000);
  purge.unref();
  await evidence.events.start();
  logger.info({ event: 'gateway_listening', listen: url });
  return {
    url, port: addr.port, store, keyring, metrics, identity, governance, evidence,
    bootstrapAdminKey: bootstrap?.secret, bootstrapAdminKeyFile: bootstrap?.file,
    setGuard: (g) => void (guard = g),
    close: () => {
      clearInterval(purge);
      return shutdown({ server, providers, store, governance, evidence }).finally(() => mcp.close());
    },
  };
}

async function shutdown(s: { server: import('node:http').Server; providers: StartedProviders; store: Store; governance: Governance; evidence: Evidence }): Promise<void> {
  // Stop accepting, release requests held for approval (their approvals stay pending in the store), let in-flight
  // requests finish for a moment, then cut idle and remaining connections.
  const closed = new Promise<void>((ok) => s.server.close(() => ok()));
  s.server.closeIdleConnections();
  const grace = setTimeout(() => s.server.closeAllConnections(), 2_000);
  try {
    await s.governance.close();
    await closed;
    clearTimeout(grace);
    // Exchanges have finished: sign the last checkpoint, stop event delivery, then the providers and the store.
    await s.evidence.close();
  } finally {
    clearTimeout(grace);
    await s.providers.close();
    await s.store.close();
  }
}

export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  return { host: host || '127.0.0.1', port: Number(listen.slice(i + 1)) };
}

/** First start of an empty store: mint an admin key, write it to a 0600 file next to the database, tell the operator where. */
async function bootstrapAdmin(b: { store: Store; clock: Clock; config: Config; baseDir: string; logger: GatewayLogger }): Promise<{ secret: string; file: string } | undefined> {
  if ((await b.store.apiKeys.count()) > 0) return undefined;
  const adminGroup = b.config.auth.roles.admin?.[0] ?? 'portcullis-admins';
  const { secret } = await createApiKey(b.store.apiKeys, { name: 'admin', kind: 'user', groups: [adminGroup], expiresAt: null, createdBy: 'bootstrap', description: 'first admin credential' }, b.clock.now());
  const url = b.config.store.url;
  const dir = url.startsWith('sqlite:') && !url.endsWith(':memory:') ? dirname(resolve(b.baseDir, url.slice(7))) : resolve(b.baseDir, '.portcullis');
  const file = resolve(dir, 'admin.key');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(file, secret + '\n', { mode: 0o600 });
  b.logger.warn({ event: 'bootstrap_admin_key_created', path: file }, 'first start: an admin key was written to this file (mode 0600); use it to create keys, then delete the file');
  return { secret, file };
}
