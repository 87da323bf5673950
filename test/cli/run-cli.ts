/**
 * Runs `opendcr …` (src/cli/index.ts) as a child process, the way a user does, or in this
 * process through its own runCli (same parsing, output and exit codes), and collects its exit
 * status and output. The caller's OPENDCR_* variables are dropped so only the given
 * --config file decides.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli as runCliInProcess } from '../../src/cli/index.ts';

export const CLI = new URL('../../src/cli/index.ts', import.meta.url).pathname;

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPENDCR_')));

/**
 * Runs a script (default the CLI) with `args`; never rejects on a non-zero exit. `env` adds
 * variables to the cleaned environment; `cwd` defaults to this process's.
 */
export function runNode(script: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const env = { ...cleanEnv(), ...opts.env };
    execFile(
      process.execPath,
      [script, ...args],
      { env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}

/** `opendcr --config FILE …args`. */
export const runCli = (config: string, ...args: string[]): Promise<CliRun> => runNode(CLI, ['--config', config, ...args]);

/** JSON printed by a `--json` run that must succeed. */
export function json<T = Record<string, unknown>>(run: CliRun): T {
  if (run.code !== 0) throw new Error(`exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** A temporary folder with an opendcr.toml (sandbox mode unless `toml` says otherwise). */
export function tempConfig(prefix: string, port: number, extra = ''): { dir: string; file: string; dataDir: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const dataDir = join(dir, 'data');
  const file = join(dir, 'opendcr.toml');
  writeFileSync(file, `[server]\nport = ${port}\ndata_dir = ${JSON.stringify(dataDir)}\n${extra}\n[log]\nlevel = "warn"\n`);
  return { dir, file, dataDir };
}

/** A stack trace line: the CLI must never print one. */
export const STACK_LINE = /^\s+at .+\(.+:\d+:\d+\)$/m;

/**
 * `opendcr …args` in this process: OPENDCR_* variables are dropped (plus `env`), and the string
 * writes to stdout and stderr are captured (the test runner reports through stdout in Buffers).
 * Runs one at a time.
 */
export async function inProcess(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const saved = Object.entries(process.env).filter(([k]) => k.startsWith('OPENDCR_'));
  for (const [k] of saved) delete process.env[k];
  Object.assign(process.env, env);
  const out = { stdout: '', stderr: '' };
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  for (const stream of ['stdout', 'stderr'] as const) {
    const original = writes[stream];
    process[stream].write = ((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'string') return (original as (...a: unknown[]) => boolean).call(process[stream], chunk, ...rest);
      out[stream] += chunk;
      return true;
    }) as typeof original;
  }
  try {
    const code = await runCliInProcess(args);
    return { code, ...out };
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
    for (const k of Object.keys(env)) delete process.env[k];
    for (const [k, v] of saved) process.env[k] = v;
  }
}
