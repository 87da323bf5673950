/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`): self time per function and per
 * package (node_modules/<name>, our src/ folders, node internals), so a token run's profile
 * says in a few lines where the time goes.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Hotspot {
  name: string;
  where: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Share of samples that were idle (the event loop waiting). */
  idleShare: number;
  functions: Hotspot[];
  packages: Hotspot[];
}

/** node_modules/<pkg>, src/<folder>, node:<module>, or a V8 pseudo-frame such as (garbage collector). */
function packageOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const src = /\/(src|bench|test)\/([^/]+)/.exec(url);
  if (src) return src[2]!.endsWith('.ts') ? `${src[1]}/${src[2]}` : `${src[1]}/${src[2]}/`;
  if (url.startsWith('node:')) return url.split('/')[0]!;
  return url;
}

/**
 * Which samples count: those taken between `skipEndMs + lengthMs` and `skipEndMs` before the end of
 * each profile (e.g. a load phase that ended just before the server stopped); default all.
 */
export interface SampleWindow {
  skipEndMs: number;
  lengthMs: number;
}

/** For each sample of `p`, whether it lies in `w` (all true without a window). */
export function inWindow(p: { startTime: number; endTime: number; timeDeltas: number[] }, w: SampleWindow | undefined): boolean[] {
  if (!w) return p.timeDeltas.map(() => true);
  // Sample i was taken at startTime + the deltas up to i (µs).
  let at = p.startTime;
  return p.timeDeltas.map((d) => {
    at += d;
    const beforeEndMs = (p.endTime - at) / 1000;
    return beforeEndMs >= w.skipEndMs && beforeEndMs <= w.skipEndMs + w.lengthMs;
  });
}

/** Self time by function and by package across `files` (e.g. every worker of one run), optionally only in `window`. */
export function summarise(files: string[], top = 25, window?: SampleWindow): ProfileSummary {
  const byFn = new Map<string, { name: string; where: string; ms: number }>();
  const byPkg = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    // Self time of a node = the time deltas of the samples taken in it.
    const selfUs = new Map<number, number>();
    const keep = inWindow(p, window);
    p.samples.forEach((id, i) => {
      if (keep[i]) selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
    });
    for (const [id, us] of selfUs) {
      const { callFrame: f } = nodes.get(id)!;
      const ms = us / 1000;
      total += ms;
      if (f.functionName === '(idle)') {
        idle += ms;
        continue;
      }
      const where = f.url ? `${f.url.replace(/^file:\/\/.*?\/(node_modules|src|bench)\//, '$1/')}:${f.lineNumber + 1}` : '';
      const name = f.functionName || '(anonymous)';
      const key = `${name}@${where}`;
      const e = byFn.get(key) ?? { name, where, ms: 0 };
      e.ms += ms;
      byFn.set(key, e);
      const pkg = packageOf(f.url, name);
      byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + ms);
    }
  }
  const busy = Math.max(total - idle, 1e-9);
  const rank = (xs: { name: string; where: string; ms: number }[]) =>
    xs
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((x) => ({ ...x, share: x.ms / busy }));
  return {
    totalMs: total,
    idleShare: idle / Math.max(total, 1e-9),
    functions: rank([...byFn.values()]),
    packages: rank([...byPkg].map(([name, ms]) => ({ name, where: '', ms }))),
  };
}

/** Markdown tables of a summary; shares are of the non-idle time. */
export function renderSummary(s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  return [
    `Profiled ${(s.totalMs / 1000).toFixed(1)} s of worker time, ${pct(s.idleShare)} idle. Shares below are of the busy time ((program) = V8/native work not attributed to a JS function).`,
    '',
    '| self time | package / folder |',
    '| ---: | --- |',
    ...s.packages.map((p) => `| ${pct(p.share)} | ${p.name} |`),
    '',
    '| self time | function | where |',
    '| ---: | --- | --- |',
    ...s.functions.map((f) => `| ${pct(f.share)} | ${f.name} | ${f.where} |`),
  ].join('\n');
}
