/**
 * A Dockerfile read into its stages — enough for the tests to check what the image is and to run the runtime
 * stage's exact ENTRYPOINT + CMD with its ENV (test/deploy/container-run.test.ts). Handles line continuations,
 * comments, `ARG` defaults in `FROM`, JSON (exec) forms, `ENV k=v …` and `COPY [--from=stage] src… dest`.
 */
export interface Stage {
  from: string;
  name: string | undefined;
  run: string[];
  copy: { from: string | undefined; src: string[]; dest: string }[];
  env: Record<string, string>;
  user: string | undefined;
  workdir: string | undefined;
  healthcheck: string[] | undefined;
  entrypoint: string[] | undefined;
  cmd: string[] | undefined;
}

export function readDockerfile(text: string): { stages: Stage[] } {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of lines) {
    const [, word = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const op = word.toUpperCase();
    const stage = stages.at(-1);
    if (op === 'ARG') {
      const [k = '', v = ''] = rest.split('=');
      args[k] = v;
    } else if (op === 'FROM') {
      const [image = '', as, name] = rest.split(/\s+/);
      stages.push({
        from: image.replace(/\$\{(\w+)\}/g, (_m, k: string) => args[k] ?? ''), name: as?.toUpperCase() === 'AS' ? name : undefined,
        run: [], copy: [], env: {}, user: undefined, workdir: undefined, healthcheck: undefined, entrypoint: undefined, cmd: undefined,
      });
    } else if (!stage) throw new Error(`${op} before FROM`);
    else if (op === 'RUN') stage.run.push(rest);
    else if (op === 'COPY') {
      const parts = rest.split(/\s+/);
      const from = parts[0]?.startsWith('--from=') ? parts.shift()!.slice(7) : undefined;
      const dest = parts.pop() ?? '';
      stage.copy.push({ from, src: parts, dest: dest.startsWith('/') || !stage.workdir ? dest : `${stage.workdir}/${dest.replace(/^\.\/?/, '')}` });
    } else if (op === 'ENV') for (const m of rest.matchAll(/(\w+)=(\S+)/g)) stage.env[m[1]!] = m[2]!;
    else if (op === 'USER') stage.user = rest;
    else if (op === 'WORKDIR') stage.workdir = rest;
    else if (op === 'HEALTHCHECK') stage.healthcheck = execForm(rest.slice(rest.indexOf('CMD ') + 4));
    else if (op === 'ENTRYPOINT') stage.entrypoint = execForm(rest);
    else if (op === 'CMD') stage.cmd = execForm(rest);
  }
  return { stages };
}

function execForm(s: string): string[] {
  const v: unknown = JSON.parse(s.trim());
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`not an exec-form array: ${s}`);
  return v;
}
