import { BlockList, isIP } from 'node:net';

/** A compiled set of exact names and globs (`*`, `?`); `undefined` lists match everything. */
export type StringMatcher = (value: string) => boolean;

export function globToRegExp(glob: string): RegExp {
  const src = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${src}$`, 's');
}

export function stringMatcher(patterns: readonly string[] | undefined): StringMatcher | undefined {
  if (patterns === undefined) return undefined;
  if (patterns.includes('*')) return () => true;
  const exact = new Set(patterns.filter((p) => !/[*?]/.test(p)));
  const globs = patterns.filter((p) => /[*?]/.test(p)).map(globToRegExp);
  if (globs.length === 0) return (v) => exact.has(v);
  return (v) => exact.has(v) || globs.some((re) => re.test(v));
}

/** Source networks (CIDR or single addresses, IPv4 and IPv6). IPv4-mapped IPv6 peers match IPv4 ranges. */
export function networkMatcher(cidrs: readonly string[]): StringMatcher {
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/');
    const family = isIP(addr ?? '');
    if (!family) throw new TypeError(`"${c}" is not an IP address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(addr!, type);
    else {
      const n = Number(bits);
      if (!/^\d{1,3}$/.test(bits) || n > (family === 4 ? 32 : 128)) throw new TypeError(`"${c}" has an invalid prefix length`);
      list.addSubnet(addr!, n, type);
    }
  }
  return (ip) => {
    const v4 = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
    const family = isIP(v4);
    return family !== 0 && list.check(v4, family === 4 ? 'ipv4' : 'ipv6');
  };
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const SHORT_DAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** Local wall-clock time in a time zone, computed with one cached Intl formatter per zone. */
export type WallClock = (now: number) => { minutes: number; day: string };

export function wallClock(timezone: string): WallClock {
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hour12: false, hour: '2-digit', minute: '2-digit', weekday: 'short' });
  } catch {
    throw new TypeError(`unknown time zone "${timezone}"`);
  }
  // formatToParts costs microseconds: the answer is the same for a whole minute, so keep the last one.
  let lastMinute = NaN;
  let last = { minutes: 0, day: 'sun' };
  return (now) => {
    const minute = Math.floor(now / 60_000);
    if (minute === lastMinute) return last;
    let h = 0;
    let m = 0;
    let d = 0;
    for (const p of fmt.formatToParts(now)) {
      if (p.type === 'hour') h = Number(p.value) % 24;
      else if (p.type === 'minute') m = Number(p.value);
      else if (p.type === 'weekday') d = SHORT_DAY[p.value] ?? 0;
    }
    lastMinute = minute;
    last = { minutes: h * 60 + m, day: DAYS[d]! };
    return last;
  };
}

/** `from`..`to` local time (wrapping past midnight when `to` < `from`), optionally on some days only. */
export function hoursMatcher(h: { from: string; to: string; timezone?: string; days?: string[] }): (now: number) => boolean {
  const clock = wallClock(h.timezone ?? 'UTC');
  const toMin = (s: string): number => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
  const from = toMin(h.from);
  const to = toMin(h.to);
  const days = h.days ? new Set(h.days) : undefined;
  return (now) => {
    const { minutes, day } = clock(now);
    if (days && !days.has(day)) return false;
    return from <= to ? minutes >= from && minutes < to : minutes >= from || minutes < to;
  };
}
