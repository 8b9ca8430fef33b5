import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { GatewayLogger } from '../core/logger.ts';
import type { SessionTransportFactory } from './bridge.ts';
import type { McpServerConfig } from './config-schema.ts';

/** The server's credential as the gateway currently holds it (the admin API may replace a stored one). */
export interface CredentialCell {
  value: string | undefined;
}

/**
 * stdio (MCP "Transports" §stdio): one process per session, launched with the configured command and arguments.
 * Its environment is the SDK's short safe default (PATH, HOME, USER, …; never the gateway's own environment,
 * which holds the gateway's secrets) plus the configured `env` (resolved once at start) and the credential in
 * `credential_env`. stderr is drained and dropped: servers print what they like there, tokens included, and
 * nothing of it may reach the gateway's logs.
 */
export function stdioFactory(cfg: McpServerConfig, env: Record<string, string>, credential: CredentialCell, logger: GatewayLogger): SessionTransportFactory {
  return {
    open(): Transport {
      const processEnv = { ...env };
      if (cfg.credential_env !== undefined && credential.value !== undefined) processEnv[cfg.credential_env] = credential.value;
      const t = new StdioClientTransport({ command: cfg.command!, args: cfg.args, env: processEnv, ...(cfg.cwd ? { cwd: cfg.cwd } : {}), stderr: 'pipe' });
      (t.stderr as NodeJS.ReadableStream | null)?.resume();
      const started = t.start.bind(t);
      t.start = async () => {
        await started();
        logger.info({ event: 'mcp_stdio_started', provider: `mcp:${cfg.name}` }, 'MCP stdio server process started');
      };
      return t;
    },
  };
}

/**
 * The HTTP+SSE transport of MCP 2024-11-05: a GET opens an SSE stream whose `endpoint` event names the URL to
 * POST messages to; answers come back on the stream. The SDK client keeps that endpoint on the server's origin.
 * The gateway's credential goes in the configured header on both the stream and the POSTs.
 */
export function legacySseFactory(cfg: McpServerConfig, credential: CredentialCell): SessionTransportFactory {
  return {
    open(): Transport {
      const headers: Record<string, string> = {};
      if (credential.value !== undefined) headers[cfg.credential_header.toLowerCase()] = cfg.credential_scheme ? `${cfg.credential_scheme} ${credential.value}` : credential.value;
      return new SSEClientTransport(new URL(cfg.url!), { requestInit: { headers } });
    },
  };
}
