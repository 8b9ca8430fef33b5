import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { policyYaml } from './fixture.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';

const BIN = join(import.meta.dirname, '../../node_modules/.bin');

/** The policy of the coding-agent suites: group eng may use `dev` and `prod`, but not the weather of `city` on prod. */
export const agentPolicy = (rule: string, city: string): string => `
version: 1
defaults: { effect: allow }
rules: []
mcp:
  defaults: { effect: deny }
  rules:
    - { id: eng, effect: allow, subjects: { groups: [eng] }, servers: [dev, prod] }
    - id: ${rule}
      effect: deny
      servers: [prod]
      tools: [get_weather]
      when: 'request.argument_text.contains("${city}")'
`;

export interface AgentFixture { t: TestGateway; dev: UpstreamMcp; prod: UpstreamMcp; close(): Promise<void> }

/**
 * Two weather MCP servers, `dev` and `prod`, behind a gateway with `policy` whose mock provider is the agent's
 * model: the set-up of the Claude Code and Codex CLI suites. `tokenEnv` names the environment variable that holds
 * the servers' credential (only the gateway reads it).
 */
export async function startAgentFixture(policy: string, tokenEnv: string, token: string): Promise<AgentFixture> {
  const dev = await startUpstreamMcp({ token, weather: true });
  const prod = await startUpstreamMcp({ token, weather: true });
  process.env[tokenEnv] = token;
  const t = await startTestGateway({
    maxBodyBytes: 8 << 20,
    extraYaml: `${policyYaml(policy)}mcp:
  servers:
    - { name: dev, url: "${dev.url}", credential: "env:${tokenEnv}" }
    - { name: prod, url: "${prod.url}", credential: "env:${tokenEnv}" }
`,
  });
  return { t, dev, prod, close: async () => (await t.close(), await dev.close(), await prod.close()) };
}

/** A fresh home directory for one agent run. */
export const agentHome = (prefix: string): string => mkdtempSync(join(tmpdir(), prefix));

/**
 * Runs an agent binary from node_modules/.bin non-interactively in `home` with only `env` (never the caller's own
 * provider or agent settings) and stdin closed (`codex exec` reads a piped stdin to its end before it starts).
 */
export function runAgent(bin: string, args: string[], home: string, env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(join(BIN, bin), args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...env },
      cwd: home, timeout: 150_000, maxBuffer: 8 << 20,
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}\n${stderr}` }));
    child.stdin?.end();
  });
}
