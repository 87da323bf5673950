/** `opendcr config check|show`: validate the configuration the server would use. */
import { Command } from 'commander';
import type { Config } from '../../config/schema.ts';
import { inspectConfig, type LoadOptions } from '../../config/load.ts';
import { checkConfig, connectDatabase } from '../../preflight.ts';
import { CliError, printJson } from '../shared.ts';

const hideUrlPassword = (url: string): string => url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:[hidden]@');

export function configCommand(getConfig: () => Config, getLoadOptions: () => LoadOptions): Command {
  const cmd = new Command('config').description('Check or show the configuration');
  cmd
    .command('check')
    .description(
      'Check the configuration as the server does before it starts: the file and environment, certificate and key files, ' +
        'folders, production rules; every problem at once, one line each, exit 2',
    )
    .option('--connect', 'also reach the database (PostgreSQL: connect and run a query as the configured user; SQLite: open the file read-only)')
    .action(async (opts: { connect?: boolean }) => {
      const { config, problems: loadProblems } = inspectConfig(getLoadOptions());
      const problems = [...loadProblems];
      const warnings: string[] = [];
      if (config) {
        const r = await checkConfig(config);
        problems.push(...r.problems);
        warnings.push(...r.warnings);
      }
      let note: string | undefined;
      let unreachable: { problem: string; configuration: boolean } | undefined;
      if (opts.connect && config && !problems.some((p) => p.includes('key "database.url"'))) {
        const c = await connectDatabase(config);
        if (c.ok) note = c.note;
        else unreachable = c;
      }
      for (const w of warnings) process.stderr.write(`opendcr: warning: ${w}\n`);
      if (problems.length > 0 || unreachable || !config) {
        const lines = [...problems, ...(unreachable ? [unreachable.problem] : [])];
        throw new CliError(lines.join('\n'), problems.length > 0 || unreachable?.configuration ? 2 : 1);
      }
      process.stdout.write(`configuration OK (${config.source ?? 'built-in defaults'}, mode ${config.server.mode})\n`);
      if (note) process.stdout.write(`  ${note}\n`);
    });
  cmd
    .command('show')
    .description('Print the effective configuration with secrets hidden')
    .action(() => {
      const c = getConfig();
      printJson({
        ...c,
        super_admin: { ...c.super_admin, password: '[hidden]' },
        database: { ...c.database, url: c.database.url === undefined ? undefined : hideUrlPassword(c.database.url) },
        oauth: { ...c.oauth, internal_clients: c.oauth.internal_clients.map((x) => ({ ...x, client_secret: '[hidden]' })) },
        derived: { ...c.derived, databaseUrl: hideUrlPassword(c.derived.databaseUrl) },
        metrics: { ...c.metrics, ...(c.metrics.token === undefined ? {} : { token: '[hidden]' }) },
      });
    });
  return cmd;
}
