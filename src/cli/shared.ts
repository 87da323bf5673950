/** Helpers every CLI command shares: config loading with the exit codes the README documents. */
import { loadConfig, ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';

/** Exit codes: 1 = the command failed, 2 = bad configuration or usage. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

export function configLoader(getPath: () => string | undefined): () => Config {
  let cached: Config | undefined;
  return () => {
    if (cached) return cached;
    try {
      cached = loadConfig({ path: getPath() });
      return cached;
    } catch (err) {
      if (err instanceof ConfigError) throw new CliError(err.message, 2);
      throw err;
    }
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
