/**
 * How much of the machine something outside the benchmark used while a phase ran: the machine's
 * busy time (/proc/stat) less the CPU time of this process and all its descendants (servers,
 * proxies, load generators), sampled every 250 ms so that processes ending meanwhile still count.
 * On a shared 2-core machine this says whether a phase's figures are clean (Linux only).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpuSeconds } from './proc.ts';

const TICKS = 100;

/** Busy seconds of all cores since boot (user, nice, system, irq, softirq, steal). */
function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / TICKS;
}

/** This process and every descendant. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

export interface OtherLoad {
  /** Cores used by everything outside this benchmark's process tree, on average since start. */
  stop(): number;
}

export function watchOtherLoad(intervalMs = 250): OtherLoad {
  const t0 = performance.now();
  const machine0 = machineBusySeconds();
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const sample = (initial: boolean) => {
    for (const pid of descendants(process.pid)) {
      const s = cpuSeconds(pid);
      if (s === 0) continue;
      if (!first.has(pid)) first.set(pid, initial ? s : 0);
      last.set(pid, s);
    }
  };
  sample(true);
  const timer = setInterval(() => sample(false), intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sample(false);
      const seconds = (performance.now() - t0) / 1000;
      let ours = 0;
      for (const [pid, s] of last) ours += s - (first.get(pid) ?? 0);
      return Math.max(0, (machineBusySeconds() - machine0 - ours) / Math.max(seconds, 1e-3));
    },
  };
}
