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
import { exportRoutes } from './admin/export-routes.ts';
import { eventsRoutes } from './admin/events-routes.ts';
import { credentialRefusedAlert } from './proxy/credential-alert.ts';
import { adminRoutes } from './admin/routes.ts';
import { startEvidence, type Evidence } from './compose/evidence.ts';
import { loadConsoleRoutes } from './console/routes.ts';
import { startGovernance, type Governance } from './compose/governance.ts';
import { Router, type Route } from './http/route.ts';
import { GatewayMetrics } from './proxy/metrics.ts';
import { openGuard, type ExchangeGuard } from './proxy/guard.ts';
import { RouteTable } from './proxy/routes.ts';
import { createGatewayServer } from './proxy/server.ts';
import { Drain } from './proxy/drain.ts';
import { Replica } from './fleet/replica.ts';
import { startMcpFront } from './mcp/index.ts';
import { mcpCorrelationFor } from './mcp/correlate.ts';
import { startProviders, type StartedProviders } from './providers.ts';
import { startAnalytics } from './compose/analytics.ts';
import { startAlerts, type Alerts } from './compose/alerts.ts';
import { alertApprovalStep } from './alerts/approval-step.ts';

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
  /** Alert rules, investigations and suspensions (src/compose/alerts.ts). */
  alerts: Alerts;
  /** This process's replica lease: owner of the exchanges it records, recoverer of dead replicas' (src/fleet/replica.ts). */
  replica: Replica;
  /** Swap the guard (policy + content) atomically; in-flight exchanges keep theirs. */
  setGuard(guard: ExchangeGuard): void;
  /** Drains and stops (docs/fleet.md); calling it again ends the not-ready delay at once. */
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
  const logger = o.logger ?? createLogger(config.logging.level, undefined, { repeatIntervalMs: config.logging.repeat_interval_ms });
  const master = await loadOrCreateMasterKey(config.master_key, { baseDir, env });
  if (master.generatedAt) {
    logger.warn({ event: 'master_key_generated', path: master.generatedAt }, 'generated a new master key (mode 0600); back it up: without it recorded bodies and stored provider keys cannot be read');
  }
  const keyring = new Keyring(master.key);
  const store = await openStore(config.store.url, { baseDir, synchronous: config.store.sqlite?.synchronous, postgres: config.store.postgres, logger });
  onFailedStart(() => store.close());
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
    policyLedger: evidence.policyLedger,
  });
  onFailedStart(() => governance.close());
  // This process's lease: it owns the exchanges it records, and recovers those of replicas that died.
  const replica: Replica = new Replica({
    store, clock, logger, writer: evidence.audit.log.writerId,
    heartbeatIntervalMs: config.store.lease.heartbeat_interval_ms, leaseTtlMs: config.store.lease.ttl_ms,
    singleProcess: store.engine === 'sqlite',
    end: (row, finish): Promise<boolean> => recorder.recover(row, finish),
  });
  // Model tool calls are noted for linking the MCP calls that follow, when there are MCP servers (docs/mcp.md#correlation).
  const correlation = config.mcp.servers.length > 0 ? mcpCorrelationFor(store, keyring, config.mcp.correlation_window_ms) : undefined;
  const recorder: ExchangeRecorder = new ExchangeRecorder({
    store, keyring, clock, owner: replica.id, recordBodies: config.recording.bodies, flushIntervalMs: config.recording.flush_interval_ms,
    toolCalls: correlation && { ...correlation, onError: (err, id) => logger.warn({ event: 'tool_call_note_failed', exchange_id: id, error_name: errorName(err) }) },
    // The audit chain first: an exchange that cannot be chained never goes upstream.
    observers: [evidence.audit.observer, evidence.events.exchangeObserver, ...governance.observers, ...(o.observers ?? [])],
  });
  const analytics = startAnalytics({ config, store, clock, logger, prices: () => governance.enforcer.budgets });
  onFailedStart(() => analytics.stop());
  const alerts = await startAlerts({ config, store, clock, logger, evidence, baseDir, env, prices: () => governance.enforcer.budgets, publicUrl: () => config.server.public_url ?? url });
  onFailedStart(() => alerts.stop());
  const activity = createAdminActivity({
    requested: (r) => evidence.recordAdminRequest(r),
    record: (a) => evidence.recordAdmin(a),
    onRecordError: (err, action) => logger.error({ event: 'admin_action_unrecorded', reason: action, error_name: errorName(err) }, 'an admin action could not be recorded; its answer was withheld'),
  });
  const adminAuthenticate = activity.authenticate(authenticate);
  // MCP servers at /mcp/<name>: the same authenticate, guard (policy version) and recorder as the LLM endpoints.
  // A suspended identity is refused on MCP as on /v1 (there the pipeline records the refusal: PipelineDeps.admit).
  const mcpAuthenticate = async (credential: string | undefined, ctx: AuthContext): Promise<Principal> => {
    const p = await authenticate(credential, ctx);
    alerts.suspensions.admit(p);
    return p;
  };
  // A provider or an MCP server refusing the gateway's own credential is the operator's problem: one alert path.
  const credentialRefused = credentialRefusedAlert({ clock, logger, emit: (e) => evidence.events.emit(e) });
  const mcp = await startMcpFront({ config, store, keyring, clock, logger, baseDir, env, recorder, authenticate: mcpAuthenticate, guard: () => guard, publicUrl: () => config.server.public_url ?? url, approvals: governance.approvals.gate, alertApproval: (s) => alerts.suspensions.approvalFor(s), budgets: governance.enforcer, correlation, onUpstreamCredentialRefused: credentialRefused });
  onFailedStart(() => mcp.close());
  const routes: Route[] = activity.wrap([
    // Before `/admin/v1/exchanges/:id`, which would otherwise take `export` for an id.
    ...exportRoutes({ store, log: evidence.audit.log, authenticate: adminAuthenticate }),
    ...adminRoutes({
      store, keyring, clock, authenticate: adminAuthenticate,
      onKeyRevoked: (id) => apiKeys.invalidate(id),
      onCredentialChanged: (name, key) => providers.runtimes.get(name)?.setApiKey(key),
      providers: config.providers.map((p) => ({ name: p.name, type: p.type, credentialSource: p.type === 'mock' ? 'built-in' : p.api_key === 'store' ? 'store' : p.api_key ? 'config-reference' : 'none' })),
      routes: config.routes.map((r) => ({ model: r.model, provider: r.provider, upstreamModel: r.upstream_model ?? null })),
    }),
    ...governance.routes(adminAuthenticate),
    ...auditRoutes({ store, repo: evidence.audit.repo, keyring, clock, log: evidence.audit.log, authenticate: adminAuthenticate }),
    ...eventsRoutes({ events: evidence.events, authenticate: adminAuthenticate }),
    ...analytics.routes(adminAuthenticate),
    ...alerts.routes(adminAuthenticate),
    ...mcp.adminRoutes(adminAuthenticate),
  ]);
  const router = new Router().add(...routes, ...mcp.routes, ...(await loadConsoleRoutes()));
  await replica.start();
  onFailedStart(() => replica.close());
  const drain = new Drain();
  const server = createGatewayServer({
    pipeline: {
      clock, logger, metrics, recorder, authenticate,
      routes: routeTable,
      providers: providers.runtimes,
      guard: () => guard,
      limits: { maxBodyBytes: config.server.max_body_bytes, bodyTimeoutMs: config.server.request_body_timeout_ms, trustProxy: config.server.trust_proxy },
      onUpstreamCredentialRefused: credentialRefused,
      admit: (p) => alerts.suspensions.admit(p),
      approveAfterGuard: alertApprovalStep({ gate: governance.approvals.gate, approvalFor: (s) => alerts.suspensions.approvalFor(s) }),
      shutdown: drain,
    },
    router,
    metrics,
    logger,
    drain,
    // Ready while the store answers (bounded by store.postgres timeouts) and this replica's lease is current.
    ready: async () => {
      await store.ping();
      if (!replica.leaseHeld()) throw new Error('replica lease not renewed');
    },
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
  // Push from other replicas (PostgreSQL LISTEN/NOTIFY): each of these also has its polling bound (docs/fleet.md).
  store.changes?.subscribe((c) => {
    if (c.kind === 'key_revoked') apiKeys.invalidate(c.id);
    else if (c.kind === 'session_revoked') identity.invalidateSession(c.id);
    else if (c.kind === 'approval_decided') governance.approvals.service.wake(c.id);
    else void governance.policy.runtime.refresh().catch((err: unknown) => logger.warn({ event: 'policy_refresh_failed', error_name: errorName(err) }));
  });
  const purge = setInterval(() => {
    identity.purge().catch((err: unknown) => logger.warn({ event: 'identity_purge_failed', error_name: errorName(err) }, 'identity purge failed'));
  }, 10 * 60_000);
  purge.unref();
  await evidence.events.start();
  logger.info({ event: 'gateway_listening', listen: url });
  let closing: Promise<void> | undefined;
  return {
    url, port: addr.port, store, keyring, metrics, identity, governance, evidence, replica, alerts,
    bootstrapAdminKey: bootstrap?.secret, bootstrapAdminKeyFile: bootstrap?.file,
    setGuard: (g) => void (guard = g),
    close: async () => {
      clearInterval(purge);
      await analytics.stop();
      await alerts.stop();
      // A second call (a second signal) ends the not-ready delay at once.
      if (closing) drain.skipDelay();
      closing ??= shutdown({ server, drain, delayMs: config.server.shutdown_delay_ms, graceMs: config.server.shutdown_grace_ms, logger, replica, providers, store, governance, evidence }).finally(() => mcp.close());
      return closing;
    },
  };
}

interface Running {
  server: import('node:http').Server;
  drain: Drain;
  delayMs: number;
  graceMs: number;
  logger: GatewayLogger;
  replica: Replica;
  providers: StartedProviders;
  store: Store;
  governance: Governance;
  evidence: Evidence;
}

/**
 * Roll and drain (docs/fleet.md): report not ready (still serving for `server.shutdown_delay_ms`, until load
 * balancers have noticed), then stop accepting; release requests held for approval (their
 * approvals stay pending in the store, so another replica answers the retry); let exchanges in flight finish within
 * the grace, then cut the rest with their protocol's error event (recorded `gateway_shutdown`); end the lease, sign
 * the last checkpoint, stop event delivery, close providers and store.
 */
async function shutdown(s: Running): Promise<void> {
  s.logger.info({ event: 'gateway_draining' }, 'shutting down: not ready; in-flight exchanges may finish');
  await s.drain.begin(s.delayMs);
  const closed = new Promise<void>((ok) => s.server.close(() => ok()));
  s.server.closeIdleConnections();
  try {
    await s.governance.close();
    const cut = await s.drain.settle(s.graceMs);
    if (cut > 0) s.logger.warn({ event: 'exchanges_cut_at_shutdown', count: cut }, 'exchanges still running when the shutdown grace ended were cut');
    s.server.closeAllConnections();
    await closed;
    // Its own exchanges have ended: a record that could not be finished is now recovered by a live replica.
    await s.replica.close().catch((err: unknown) => s.logger.warn({ event: 'replica_lease_release_failed', error_name: errorName(err) }));
    await s.evidence.close();
  } finally {
    s.server.closeAllConnections();
    await s.providers.close();
    await s.store.close();
  }
}

export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  return { host: host || '127.0.0.1', port: Number(listen.slice(i + 1)) };
}

/** `auth.bootstrap_admin_key_file` (containers: a mounted volume), else next to the SQLite database or in `.portcullis/`. */
function bootstrapKeyFile(config: Config, baseDir: string): string | undefined {
  const configured = config.auth.bootstrap_admin_key_file;
  if (configured === 'none') return undefined;
  if (configured) return resolve(baseDir, configured);
  const url = config.store.url;
  const dir = url.startsWith('sqlite:') && !url.endsWith(':memory:') ? dirname(resolve(baseDir, url.slice(7))) : resolve(baseDir, '.portcullis');
  return resolve(dir, 'admin.key');
}

/** First start of an empty store: mint an admin key, write it to a 0600 file, tell the operator where. */
async function bootstrapAdmin(b: { store: Store; clock: Clock; config: Config; baseDir: string; logger: GatewayLogger }): Promise<{ secret: string; file: string } | undefined> {
  const file = bootstrapKeyFile(b.config, b.baseDir);
  if (!file || (await b.store.apiKeys.count()) > 0) return undefined;
  const adminGroup = b.config.auth.roles.admin?.[0] ?? 'portcullis-admins';
  const { secret } = await createApiKey(b.store.apiKeys, { name: 'admin', kind: 'user', groups: [adminGroup], expiresAt: null, createdBy: 'bootstrap', description: 'first admin credential' }, b.clock.now());
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, secret + '\n', { mode: 0o600 });
  b.logger.warn({ event: 'bootstrap_admin_key_created', path: file }, 'first start: an admin key was written to this file (mode 0600); use it to create keys, then delete the file');
  return { secret, file };
}
