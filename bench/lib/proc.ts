/**
 * What the kernel says about the server processes: the process tree (a cluster primary and its
 * workers), CPU time and resident memory, read from /proc (Linux only, like the target machine).
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

// utime/stime in /proc/<pid>/stat are in clock ticks (USER_HZ, 100 on Linux almost everywhere).
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** `pid` and its direct children (the cluster workers). Dead processes are skipped. */
export function processTree(pid: number): number[] {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return [pid, ...kids];
  } catch {
    return [];
  }
}

/** User + system CPU seconds of one process (all its threads); 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Summed CPU seconds of a process tree. */
export function treeCpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + cpuSeconds(p), 0);
}

/** Resident set size in MB; 0 when the process is gone. */
export function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

export interface RssSampler {
  /** Stops sampling; the highest RSS seen per process, in MB, primary first. */
  stop(): number[];
}

/** Samples the RSS of every process in the tree of `pid` until stopped. */
export function sampleRss(pid: number, intervalMs = 200): RssSampler {
  const max = new Map<number, number>();
  const take = () => {
    for (const p of processTree(pid)) max.set(p, Math.max(max.get(p) ?? 0, rssMb(p)));
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return [...max.values()];
    },
  };
}
