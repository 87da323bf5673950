/**
 * The result table: one row per figure, with its ratio and target (PASS/MISS). A row whose
 * load run saw any unexpected status or transport error is marked INVALID, whatever its rate.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadResult } from './loadgen.ts';

export interface Row {
  item: string;
  what: string;
  result: string;
  p50?: number | undefined;
  p99?: number | undefined;
  /** Unexpected answers and errors in the timed phase. */
  failed?: number | undefined;
  ratio?: string | undefined;
  target?: string | undefined;
  /** undefined: no target. */
  pass?: boolean | undefined;
}

export interface Report {
  add(row: Row): void;
  note(line: string): void;
  /** The markdown document: header lines, the table, notes. */
  render(header: string[], failure?: string): string;
  /** Writes `text` to <dir>/<ISO timestamp>.md; returns the path. */
  write(dir: string, text: string): string;
}

const fmt = (n: number | undefined, digits = 1) => (n === undefined || !Number.isFinite(n) ? '' : n.toFixed(digits));
export const rate = (n: number) => Math.round(n).toLocaleString('en-GB');
export const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');

/** A row for a load run: rate, latencies, failures; INVALID when anything failed. */
export function loadRow(item: string, what: string, r: LoadResult, unit: string, extra: Partial<Row> = {}): Row {
  const cut = r.exhausted ? ` (pre-signed requests ran out after ${r.seconds.toFixed(1)} s)` : '';
  // Server CPU per answer: the efficiency behind the rate, independent of how busy the machine was.
  const cpu = r.serverCores !== undefined && r.rps > 0 ? `, ${((r.serverCores * 1000) / r.rps).toFixed(2)} ms server CPU each` : '';
  return { item, what, result: `${rate(r.rps)} ${unit}${cpu}${cut}`, p50: r.p50, p99: r.p99, failed: r.failed, ...extra };
}

export function createReport(): Report {
  const rows: Row[] = [];
  const notes: string[] = [];
  return {
    add: (row) => {
      rows.push(row);
    },
    note: (line) => {
      notes.push(line);
    },
    render(header, failure) {
      const status = (r: Row) => (r.failed ? 'INVALID' : r.pass === undefined ? '' : r.pass ? 'PASS' : 'MISS');
      const lines = [
        ...header,
        '',
        '| # | measurement | result | p50 ms | p99 ms | failed | ratio | target | status |',
        '| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |',
        ...rows.map(
          (r) =>
            `| ${r.item} | ${r.what} | ${r.result} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.failed ?? ''} | ${r.ratio ?? ''} | ${r.target ?? ''} | ${status(r)} |`,
        ),
        '',
        ...(failure ? [`**The run stopped early:** ${failure}`, ''] : []),
        ...notes.map((n) => `- ${n}`),
        '',
      ];
      return lines.join('\n');
    },
    write(dir, text) {
      mkdirSync(dir, { recursive: true });
      const file = join(
        dir,
        `${new Date()
          .toISOString()
          .replace(/\.\d+Z$/, 'Z')
          .replaceAll(':', '-')}.md`,
      );
      writeFileSync(file, text);
      return file;
    },
  };
}
