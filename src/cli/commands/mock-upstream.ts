import { runMockUpstream } from '../../mock/server.ts';
import type { CliCommand } from '../io.ts';

export const mockUpstreamCommand: CliCommand = {
  summary: 'run the built-in mock provider (OpenAI + Anthropic wire formats)',
  usage: 'portcullis mock-upstream [--port N] [--host H] [--chunks N] [--delay-ms N]',
  run: (args) => runMockUpstream(args),
};
