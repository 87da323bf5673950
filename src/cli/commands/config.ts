/** `opendcr config check|show`: validate the configuration the server would use. */
import { Command } from 'commander';
import type { Config } from '../../config/schema.ts';
import { printJson } from '../shared.ts';

export function configCommand(getConfig: () => Config): Command {
  const cmd = new Command('config').description('Check or show the configuration');
  cmd.command('check')
    .description('Validate the configuration file and environment; exits 2 with the key and problem if invalid')
    .action(() => {
      const c = getConfig();
      process.stdout.write(`configuration OK (${c.source ?? 'built-in defaults'}, mode ${c.server.mode})\n`);
    });
  cmd.command('show')
    .description('Print the effective configuration with secrets hidden')
    .action(() => {
      const c = getConfig();
      printJson({
        ...c,
        super_admin: { ...c.super_admin, password: '[hidden]' },
        database: { ...c.database, url: c.database.url?.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:[hidden]@') },
        oauth: { ...c.oauth, internal_clients: c.oauth.internal_clients.map((x) => ({ ...x, client_secret: '[hidden]' })) },
        derived: { ...c.derived, databaseUrl: c.derived.databaseUrl.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:[hidden]@') },
      });
    });
  return cmd;
}
