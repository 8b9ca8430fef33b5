import { loadSession, replaySession, sessionView } from '../../audit/replay.ts';
import { openAuditRepo } from '../../store/audit-repo.ts';
import { openStoreSession, parse } from '../context.ts';
import { print, printJson, UsageError, type CliCommand, type CliIo } from '../io.ts';
import { chainCliAction } from '../audited.ts';

export const sessionsCommand: CliCommand = {
  summary: 'list recorded sessions and replay one with its original timing',
  usage: `portcullis sessions list [--subject S] [--since ISO] [--until ISO] [--limit N] [--json] [--config FILE]
       portcullis sessions replay ID [--speed N] [--no-wait] [--max-gap MS] [--json] [--config FILE]   (space pauses/resumes in a terminal)`,
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parse(rest, {
      subject: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' },
      speed: { type: 'string' }, 'no-wait': { type: 'boolean' }, 'max-gap': { type: 'string' },
    });
    if (sub !== 'list' && sub !== 'replay') throw new UsageError('expected list or replay');
    if (sub === 'replay' && positionals.length !== 1) throw new UsageError('give the session id');
    const speed = values.speed === undefined ? 1 : Number(values.speed);
    if (!(speed > 0 && speed <= 1e6)) throw new UsageError('--speed must be a positive number');
    const maxGapMs = values['max-gap'] === undefined ? 3000 : Number(values['max-gap']);
    if (!(maxGapMs >= 0)) throw new UsageError('--max-gap must be a number of milliseconds');
    const s = await openStoreSession(values.config, io);
    try {
      const repo = openAuditRepo(s.store);
      if (sub === 'list') {
        const rows = await repo.sessions({
          subject: values.subject, since: values.since ? Date.parse(values.since) : undefined, until: values.until ? Date.parse(values.until) : undefined,
          limit: values.limit ? Number(values.limit) : 50,
        });
        if (values.json) printJson(io.stdout, rows.map(sessionView));
        else for (const r of rows) print(io.stdout, `${r.id}  ${new Date(r.firstAt).toISOString()}  ${new Date(r.lastAt).toISOString()}  ${(r.subject ?? '-').padEnd(24)} ${String(r.exchangeCount).padStart(5)} exchange(s)  ${r.source}`);
        return 0;
      }
      const id = positionals[0]!;
      if (!(await repo.session(id))) {
        print(io.stderr, `no session ${id}`);
        return 1;
      }
      // Viewing recorded bodies is an audited action: chained before anything is decrypted (fails closed).
      await chainCliAction(s, { action: 'session.replay', target: id });
      const rec = (await loadSession({ store: s.store, repo, keyring: s.keyring, id }))!;
      if (values.json) {
        printJson(io.stdout, { ...sessionView(rec.session), exchanges: rec.exchanges });
        return 0;
      }
      await withPauseKey(io, (sleep) => replaySession(rec, { out: io.stdout, speed, wait: !values['no-wait'], maxGapMs, sleep }));
      return 0;
    } finally {
      await s.close();
    }
  },
};

/** In a terminal, space toggles pause; elsewhere a plain timer. */
async function withPauseKey(io: CliIo, run: (sleep: (ms: number) => Promise<void>) => Promise<void>): Promise<void> {
  const tty = io.stdin as NodeJS.ReadStream;
  if (!tty.isTTY || typeof tty.setRawMode !== 'function') return run((ms) => new Promise((r) => setTimeout(r, ms)));
  let paused: { promise: Promise<void>; resume(): void } | undefined;
  const onKey = (k: Buffer): void => {
    if (k[0] === 3) process.kill(process.pid, 'SIGINT');
    if (k[0] !== 32) return;
    if (paused) {
      paused.resume();
      paused = undefined;
    } else {
      let resume = (): void => undefined;
      paused = { promise: new Promise<void>((r) => (resume = r)), resume: () => resume() };
      print(io.stderr, '[paused — space to resume]');
    }
  };
  tty.setRawMode(true);
  tty.on('data', onKey);
  try {
    await run(async (ms) => {
      await new Promise((r) => setTimeout(r, ms));
      while (paused) await paused.promise;
    });
  } finally {
    tty.off('data', onKey);
    tty.setRawMode(false);
    tty.pause();
  }
}
