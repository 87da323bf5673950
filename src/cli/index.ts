/**
 * The `opendcr` command line. Every command has --help; --config PATH (or OPENDCR_CONFIG) picks
 * the configuration. Exit codes: 0 ok, 1 the command failed, 2 bad configuration or usage.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { configLoader, CliError } from './shared.ts';
import { keysCommand } from './commands/keys.ts';
import { configCommand } from './commands/config.ts';
import { truststoreCommand } from './commands/truststore.ts';
import { auditCommand } from './commands/audit.ts';
import { sandboxCommand } from './commands/sandbox.ts';
import { tppCommand } from './commands/tpp.ts';
import { demoCommand } from './commands/demo.ts';

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export function buildCli(): Command {
  const program = new Command('opendcr')
    .description('OpenDCR: Open Banking DCR, FAPI key manager and gateway')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('-c, --config <path>', 'configuration file (default: ./opendcr.toml or $OPENDCR_CONFIG)')
    .showHelpAfterError()
    .exitOverride();
  const getConfig = configLoader(() => program.opts<{ config?: string }>().config);

  program.command('start')
    .description('Start the server (same as npm start)')
    .action(async () => {
      const { main } = await import('../main.ts');
      const path = program.opts<{ config?: string }>().config;
      await main(path ? ['--config', path] : []);
    });
  program.addCommand(configCommand(getConfig));
  program.addCommand(keysCommand(getConfig));
  program.addCommand(truststoreCommand(getConfig));
  program.addCommand(auditCommand(getConfig));
  program.addCommand(sandboxCommand(getConfig));
  program.addCommand(tppCommand(getConfig));
  program.addCommand(demoCommand());
  const override = (c: Command): void => { c.exitOverride(); c.commands.forEach(override); };
  override(program);
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
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
      process.stderr.write(`opendcr: ${err.message}\n`);
      return err.exitCode;
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
