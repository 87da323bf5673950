/**
 * Time by stage from V8 .cpuprofile files: each sample goes to the first stage (in the order
 * given) that has a frame anywhere on the sample's stack, so a stage includes what it calls
 * (inclusive time), and a more specific stage listed earlier takes its part out of a broader one
 * listed later. Only what runs on the main thread is sampled: crypto that node runs on the libuv
 * thread pool (WebCrypto verify and sign) and TLS record encryption in native code without a JS
 * frame show up as their dispatch, or as (program).
 */
import { readFileSync } from 'node:fs';
import { inWindow, type SampleWindow } from './cpuprofile.ts';

interface Frame {
  functionName: string;
  url: string;
}
interface Node {
  id: number;
  callFrame: Frame;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Stage {
  name: string;
  test(frame: Frame): boolean;
}

export interface StageShare {
  name: string;
  ms: number;
  share: number;
}

/** Busy main-thread time per stage across `files` (optionally only in `window`), the rest as "other"; shares of the busy time. */
export function stageShares(files: string[], stages: Stage[], window?: SampleWindow): { busyMs: number; idleMs: number; stages: StageShare[] } {
  const ms = new Map<string, number>(stages.map((s) => [s.name, 0]));
  ms.set('other', 0);
  let busy = 0;
  let idle = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    // The stage of a leaf node, computed once per node.
    const stageOf = new Map<number, string>();
    const classify = (leaf: number): string => {
      const stack: Frame[] = [];
      for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) stack.push(byId.get(id)!.callFrame);
      for (const s of stages) if (stack.some((f) => s.test(f))) return s.name;
      return 'other';
    };
    const keep = inWindow(p, window);
    p.samples.forEach((id, i) => {
      if (!keep[i]) return;
      const us = p.timeDeltas[i + 1] ?? 0;
      if (byId.get(id)!.callFrame.functionName === '(idle)') {
        idle += us / 1000;
        return;
      }
      let s = stageOf.get(id);
      if (s === undefined) {
        s = classify(id);
        stageOf.set(id, s);
      }
      ms.set(s, ms.get(s)! + us / 1000);
      busy += us / 1000;
    });
  }
  return {
    busyMs: busy,
    idleMs: idle,
    stages: [...ms].map(([name, v]) => ({ name, ms: v, share: v / Math.max(busy, 1e-9) })).sort((a, b) => b.ms - a.ms),
  };
}
