import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1:0 between the gateway replicas and PostgreSQL, to play the network's failures for real
 * (the replicas' `pg` pool sees real sockets, real resets and real silence):
 *
 * - `pass`: forward both directions (new and held connections; bytes held while silent are delivered, in order —
 *   like TCP retransmission after a partition heals);
 * - `refuse`: new connections are closed at once (a database that is down: connection refused / reset); open
 *   connections keep working;
 * - `silent`: a partition — connections stay open, new ones are accepted, but nothing is forwarded in either
 *   direction; what arrives is held (`held()` counts it) and delivered only if the mode returns to `pass`;
 * - `drop-all`: every existing connection is destroyed (both sides), then new ones are refused until the mode
 *   changes — a database restart; `setMode('pass')` is the database coming back.
 */
export type ProxyMode = 'pass' | 'refuse' | 'silent' | 'drop-all';

export interface TcpProxy {
  host: string;
  port: number;
  mode(): ProxyMode;
  setMode(mode: ProxyMode): void;
  /** Connections currently open through the proxy. */
  connections(): number;
  /** Bytes received and not forwarded (silent mode), both directions. */
  held(): number;
  /** Rewrite a `postgres://` URL so it goes through the proxy. */
  urlThrough(url: string): string;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  /** Bytes from the client not yet written upstream, and from upstream not yet written to the client. */
  toUpstream: Buffer[];
  toClient: Buffer[];
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let current: ProxyMode = 'pass';
  const pairs = new Set<Pair>();

  // Open connections carry data in `pass` and `refuse` (refusing concerns only new connections).
  const forwarding = (): boolean => current === 'pass' || current === 'refuse';
  const flush = (p: Pair): void => {
    if (!forwarding()) return;
    if (!p.upstream) return connectUpstream(p);
    for (const b of p.toUpstream.splice(0)) p.upstream.write(b);
    for (const b of p.toClient.splice(0)) p.client.write(b);
  };
  const destroy = (p: Pair): void => {
    pairs.delete(p);
    p.client.destroy();
    p.upstream?.destroy();
  };
  const connectUpstream = (p: Pair): void => {
    const up = connect(target.port, target.host);
    p.upstream = up;
    up.setNoDelay(true);
    up.on('data', (b: Buffer) => {
      if (forwarding() && p.toClient.length === 0) p.client.write(b);
      else p.toClient.push(b);
    });
    up.on('error', () => destroy(p));
    up.on('close', () => destroy(p));
    flush(p);
  };

  const server = createServer((client) => {
    if (current === 'refuse' || current === 'drop-all') return void client.destroy();
    client.setNoDelay(true);
    const p: Pair = { client, upstream: undefined, toUpstream: [], toClient: [] };
    pairs.add(p);
    client.on('data', (b: Buffer) => {
      if (forwarding() && p.upstream && p.toUpstream.length === 0) p.upstream.write(b);
      else p.toUpstream.push(b);
    });
    client.on('error', () => destroy(p));
    client.on('close', () => destroy(p));
    // A connection accepted while silent gets its upstream only once the partition heals.
    if (current === 'pass') connectUpstream(p);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    mode: () => current,
    setMode(mode) {
      current = mode;
      if (mode === 'drop-all') for (const p of [...pairs]) destroy(p);
      for (const p of pairs) flush(p);
    },
    connections: () => pairs.size,
    held: () => {
      let n = 0;
      for (const p of pairs) for (const b of [...p.toUpstream, ...p.toClient]) n += b.length;
      return n;
    },
    urlThrough(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    async close() {
      for (const p of [...pairs]) destroy(p);
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
