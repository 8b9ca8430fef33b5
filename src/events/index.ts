import { resolve } from 'node:path';
import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.ts';
import type { GatewayLogger } from '../core/logger.ts';
import { ConfigError } from '../config/loader.ts';
import { checkEventsConfig, type EventsConfig } from './config-schema.ts';
import { createEventMapper } from './ocsf.ts';
import { createEventPipeline, type EventPipeline } from './pipeline.ts';
import type { OutboxRepo } from './repo.ts';
import { createSinks } from './sinks/index.ts';

/**
 * Builds the events pipeline from the `events` config section: sinks (secret references resolved), the OCSF
 * mapper (keyed hashes under `hashKey`), the spill file (relative to the config file). Call `start()` after the
 * gateway listens and `close()` before the store closes. Throws a ConfigError naming the key path when the section
 * breaks a rule the JSON Schema cannot express (checkEventsConfig).
 */
export interface OpenEventsOptions {
  outbox: OutboxRepo;
  config: EventsConfig;
  baseDir: string;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  logger: GatewayLogger;
  /** ≥16 secret bytes for keyed hashes of unsafe field values (e.g. `keyring.key('audit').export()`). */
  hashKey: Uint8Array;
  productVersion: string;
  registry?: Registry;
  owner?: string;
  /** Named in a ConfigError (e.g. `events.sinks[0].timeout_ms` not below `events.lease_ms`). */
  configFile?: string;
}

export async function openEventPipeline(o: OpenEventsOptions): Promise<EventPipeline> {
  const issues = checkEventsConfig(o.config);
  if (issues.length > 0) throw new ConfigError(o.configFile ?? 'events section', issues);
  const sinks = await createSinks(o.config.sinks, { baseDir: o.baseDir, env: o.env, clock: o.clock, productVersion: o.productVersion });
  return createEventPipeline({
    outbox: o.outbox, sinks, mapper: createEventMapper({ hashKey: o.hashKey, productVersion: o.productVersion }),
    config: { ...o.config, spill_path: resolve(o.baseDir, o.config.spill_path) },
    clock: o.clock, logger: o.logger, registry: o.registry, owner: o.owner,
  });
}

export type { EventPipeline, EventsHealth } from './pipeline.ts';
export { checkEventsConfig, type EventsConfig, type EventsConfigIssue } from './config-schema.ts';
export type { SecurityEvent, SecurityActor } from './types.ts';
