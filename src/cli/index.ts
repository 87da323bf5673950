/**
 * The `opendcr` command line. Every command has --help; --config PATH (or OPENDCR_CONFIG) and
 * --data-dir DIR pick the configuration and the data folder, before or after the command.
 * Commands that talk to a server find the one running on that data folder ({data_dir}/server.json).
 * Exit codes: 0 ok, 1 the command failed, 2 bad configuration or usage.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { resolve } from 'node:path';
import type { LoadOptions } from '../config/load.ts';
import { configLoader, CliError } from './shared.ts';
import { AppError, type ErrorCode } from '../errors/app-error.ts';

/** What the command line adds to a service's refusal: the command that helps. */
const CLI_HINTS: Partial<Record<ErrorCode, string>> = {
  SANDBOX_NOT_INITIALISED: ': run `opendcr sandbox init` first',
  SANDBOX_UNREADABLE: '; run `opendcr sandbox init --force`',
  SANDBOX_EXISTS: '; use --force to replace it (its TPPs are removed too)',
};
import { keysCommand } from './commands/keys.ts';
import { configCommand } from './commands/config.ts';
import { truststoreCommand } from './commands/truststore.ts';
import { auditCommand } from './commands/audit.ts';
import { sandboxCommand } from './commands/sandbox.ts';
import { tppCommand } from './commands/tpp.ts';
import { consentCommand } from './commands/consent.ts';
import { demoCommand } from './commands/demo.ts';
import { apiCommand } from './commands/api.ts';
import { planCommand } from './commands/plan.ts';
import { subscriptionCommand } from './commands/subscription.ts';
import { keyManagerCommand } from './commands/keymanager.ts';
import { adminCommand } from './commands/admin.ts';

interface GlobalOptions {
  config?: string;
  dataDir?: string;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export function buildCli(): Command {
  const program = new Command('opendcr')
    .description('OpenDCR: Open Banking DCR, FAPI key manager and gateway')
    // Not --version: `tpp … --version v3.1` is the DCR API version, and program options are read anywhere.
    .version(packageVersion(), '-V', 'print the version (also `opendcr --version` alone)')
    .option('-c, --config <path>', 'configuration file (default: ./opendcr.toml or $OPENDCR_CONFIG)')
    .option('--data-dir <dir>', "data folder, over [server] data_dir and OPENDCR_DATA_DIR (the server's database, keys, trust store, sandbox)")
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError()
    .exitOverride();
  const loadOptions = (): LoadOptions => {
    const { config, dataDir } = program.opts<GlobalOptions>();
    if (dataDir === '') throw new CliError('--data-dir needs a folder', 2);
    return { path: config, overrides: dataDir === undefined ? [] : [{ option: '--data-dir', key: ['server', 'data_dir'], value: resolve(dataDir) }] };
  };
  const getConfig = configLoader(loadOptions);

  program
    .command('start')
    .description('Start the server (same as npm start); with --config, --data-dir and --port it runs on that configuration, folder and port')
    .option('--port <port>', 'HTTPS port, over [server] port and OPENDCR_PORT; the command line finds it in {data_dir}/server.json')
    .action(async (opts: { port?: string }) => {
      const { start, startOverrides, StartUsageError } = await import('../start.ts');
      const { config, dataDir } = program.opts<GlobalOptions>();
      let overrides;
      try {
        overrides = startOverrides({ port: opts.port, dataDir });
      } catch (err) {
        if (err instanceof StartUsageError) throw new CliError(err.message, 2);
        throw err;
      }
      await start({ path: config, overrides });
    });
  program.addCommand(configCommand(getConfig, loadOptions));
  program.addCommand(keysCommand(getConfig));
  program.addCommand(truststoreCommand(getConfig));
  program.addCommand(auditCommand(getConfig));
  program.addCommand(sandboxCommand(getConfig));
  program.addCommand(tppCommand(getConfig));
  program.addCommand(apiCommand(getConfig));
  program.addCommand(planCommand(getConfig));
  program.addCommand(subscriptionCommand(getConfig));
  program.addCommand(consentCommand(getConfig));
  program.addCommand(keyManagerCommand(getConfig));
  program.addCommand(adminCommand());
  program.addCommand(demoCommand());
  const override = (c: Command): void => {
    c.exitOverride().configureHelp({ showGlobalOptions: true });
    c.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const program = buildCli();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof CliError) {
      for (const line of err.message.split('\n')) process.stderr.write(`opendcr: ${line}\n`);
      return err.exitCode;
    }
    // A service's coded refusal (src/sandbox/service.ts, ...): its description, with what to run
    // about it here; a bad input (400) is a usage error.
    if (err instanceof AppError) {
      process.stderr.write(`opendcr: ${err.description}${CLI_HINTS[err.code] ?? ''}\n`);
      return err.status === 400 ? 2 : 1;
    }
    process.stderr.write(`opendcr: ${(err as Error).message ?? 'unexpected error'}\n`);
    return 1;
  }
}

/** Runs the CLI for this process (src/cli/index.ts as the main module, or bin/opendcr.js) and sets the exit status. */
export async function cliMain(argv: string[] = process.argv.slice(2)): Promise<void> {
  const code = await runCli(argv);
  // `start` keeps running: its server decides the exit status when it stops.
  if (code !== 0 || !argv.includes('start')) process.exitCode = code;
}

if (import.meta.main) await cliMain();
