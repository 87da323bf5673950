/** Helpers every CLI command shares: config loading with the exit codes the README documents. */
import { loadConfig, ConfigError, type LoadOptions } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { announceChange } from '../shared-state/index.ts';

/**
 * Exit codes: 1 = the command failed, 2 = bad configuration or usage. The message is one line
 * per problem; each is printed as `opendcr: <line>`.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Loads the configuration once, from the options the global flags give; every problem makes a CliError (exit 2). */
export function configLoader(getOptions: () => LoadOptions): () => Config {
  let cached: Config | undefined;
  return () => {
    if (cached) return cached;
    try {
      cached = loadConfig(getOptions());
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

/**
 * Tells the running servers of this configuration that `channel`'s data changed. The change is
 * already stored, so a failed notice is a warning: servers find it on their next timed check.
 * Returns whether the notice went out.
 */
export async function notifyServers(config: Config, channel: string): Promise<boolean> {
  try {
    await announceChange(config, channel);
    return true;
  } catch (err) {
    process.stderr.write(
      `opendcr: warning: running servers were not notified (${(err as Error).message}); they pick the change up within [oauth.key_rotation] check_interval (${config.oauth.key_rotation.check_interval} s)\n`,
    );
    return false;
  }
}
