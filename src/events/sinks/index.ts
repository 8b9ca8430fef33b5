import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Clock } from '../../core/clock.ts';
import { resolveSecretRef } from '../../config/secrets.ts';
import type { HttpSinkConfig, SinkConfig, SyslogSinkConfig } from '../config-schema.ts';
import { createFileSink } from './file.ts';
import { createHttpSink } from './http.ts';
import type { Sink } from './sink.ts';
import { createSyslogSink } from './syslog.ts';

/** Builds the configured sinks once at startup: resolves secret references and reads TLS material. */
export interface SinkEnv {
  baseDir: string;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  productVersion: string;
}

export async function createSinks(configs: readonly SinkConfig[], e: SinkEnv): Promise<Sink[]> {
  const names = new Set<string>();
  const sinks: Sink[] = [];
  for (const c of configs) {
    if (names.has(c.name)) throw new TypeError(`events.sinks: duplicate sink name ${c.name}`);
    names.add(c.name);
    sinks.push(await createSink(c, e));
  }
  return sinks;
}

async function createSink(c: SinkConfig, e: SinkEnv): Promise<Sink> {
  switch (c.type) {
    case 'file':
      return createFileSink({
        name: c.name, path: resolve(e.baseDir, c.path), batchSize: c.batch_size, maxBytes: c.max_bytes,
        rotateIntervalMs: c.rotate_interval_ms, keep: c.keep, fsync: c.fsync, clock: e.clock, timeoutMs: c.timeout_ms,
      });
    case 'syslog':
      return syslog(c, e);
    default:
      return http(c, e);
  }
}

async function syslog(c: SyslogSinkConfig, e: SinkEnv): Promise<Sink> {
  const t = c.tls;
  const read = (p: string | undefined): Promise<string | undefined> => (p ? readFile(resolve(e.baseDir, p), 'utf8') : Promise.resolve(undefined));
  const tls = c.transport === 'tls'
    ? {
      ca: await read(t?.ca), cert: await read(t?.cert),
      key: t?.key ? await resolveSecretRef(t.key, e) : undefined,
      servername: t?.servername, rejectUnauthorized: t?.reject_unauthorized ?? true,
    }
    : undefined;
  return createSyslogSink({
    name: c.name, transport: c.transport, host: c.host, port: c.port, facility: c.facility, appName: c.app_name, sdId: c.sd_id,
    batchSize: c.batch_size, timeoutMs: c.timeout_ms, tls: tls && Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined)),
  });
}

async function http(c: HttpSinkConfig, e: SinkEnv): Promise<Sink> {
  const headers: Record<string, string> = { ...c.headers };
  if (c.auth_header) headers[c.auth_header.name.toLowerCase()] = await resolveSecretRef(c.auth_header.value, e);
  if (c.type === 'splunk_hec') {
    if (!c.token) throw new TypeError(`events.sinks.${c.name}: splunk_hec needs token`);
    headers.authorization = `Splunk ${await resolveSecretRef(c.token, e)}`;
  }
  return createHttpSink({
    name: c.name, format: c.type, url: c.url, batchSize: c.batch_size, timeoutMs: c.timeout_ms, headers, index: c.index,
    sourcetype: c.sourcetype, source: c.source, productVersion: e.productVersion, ca: c.ca_file ? await readFile(resolve(e.baseDir, c.ca_file), 'utf8') : undefined,
  }, hostname());
}

export type { Sink } from './sink.ts';
