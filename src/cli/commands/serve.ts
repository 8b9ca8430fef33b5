import { loadConfigFile } from '../../config/loader.ts';
import { startGateway } from '../../main.ts';
import { parse } from '../context.ts';
import { print, type CliCommand } from '../io.ts';

export const serveCommand: CliCommand = {
  summary: 'run the gateway (embedded default without --config)',
  usage: 'portcullis serve [--config FILE] [--listen HOST:PORT]',
  async run(args, io) {
    const { values } = parse(args, { listen: { type: 'string' } });
    const loaded = await loadConfigFile(values.config ?? (io.env.PORTCULLIS_CONFIG || undefined), io.cwd);
    const gw = await startGateway({ config: loaded.config, baseDir: loaded.baseDir, env: io.env, listen: values.listen });
    print(io.stdout, `portcullis listening on ${gw.url}  (OpenAI base URL ${gw.url}/v1, Anthropic base URL ${gw.url})`);
    if (gw.bootstrapAdminKeyFile) print(io.stdout, `first admin key written to ${gw.bootstrapAdminKeyFile} (mode 0600)`);
    // First signal: drain (docs/fleet.md: not ready for server.shutdown_delay_ms, in-flight exchanges get
    // server.shutdown_grace_ms). A second signal ends the not-ready delay at once; the drain itself still completes.
    let signals = 0;
    const stop = (signal: string): void => {
      if (signals++ > 0) {
        print(io.stderr, `received ${signal} again: closing the listener now`);
        void gw.close();
        return;
      }
      print(io.stderr, `received ${signal}, draining`);
      gw.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    return -1;
  },
};
