/** `opendcr demo`: the onboarding flow end to end against a throw-away server (see cli/demo.ts). */
import { Command } from 'commander';
import { runDemo } from '../demo.ts';
import { CliError } from '../shared.ts';

export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'Start a throw-away sandbox server in a temporary folder and walk through directory, TPP, register, token, get, update, delete (same as npm run demo)',
    )
    .option('--keep', 'keep the temporary folder (configuration, data, TPP files) so the printed curl lines can be replayed')
    .option('--production-psu', "the customer signs in at a bank's identity provider (a throw-away OpenID provider) instead of the sandbox form")
    .action(async (opts: { keep?: boolean; productionPsu?: boolean }) => {
      const code = await runDemo({ keep: opts.keep === true, productionPsu: opts.productionPsu === true });
      // runDemo already printed what failed; the exit status is all that is left to report.
      if (code !== 0) throw new CliError('the demo failed', code);
    });
}
