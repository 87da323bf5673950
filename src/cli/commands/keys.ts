/** `opendcr keys list|rotate`: the authorization server's signing keys. */
import { Command } from 'commander';
import type { Config } from '../../config/schema.ts';
import { openStorage } from '../../storage/index.ts';
import { createKeyManager } from '../../crypto/keys.ts';
import { retireGrace } from '../../oauth/state.ts';
import { CHANNELS } from '../../shared-state/index.ts';
import { notifyServers, printJson } from '../shared.ts';

async function withKeyManager<T>(config: Config, fn: (km: ReturnType<typeof createKeyManager>) => Promise<T>): Promise<T> {
  const storage = await openStorage({ url: config.derived.databaseUrl, poolSize: 2, busyTimeoutMs: config.database.busy_timeout });
  try {
    const km = createKeyManager({ keys: storage.keys, meta: storage.meta, now: () => Math.floor(Date.now() / 1000), retireGrace: retireGrace(config) });
    return await fn(km);
  } finally {
    await storage.close();
  }
}

const iso = (t: number | null) => (t === null ? '' : new Date(t * 1000).toISOString());

export function keysCommand(getConfig: () => Config): Command {
  const cmd = new Command('keys').description('Manage the signing keys of the authorization server');

  cmd
    .command('list')
    .description('List published signing keys (active and retired)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const keys = await withKeyManager(getConfig(), (km) => km.list());
      const rows = keys.map((k) => ({
        kid: k.kid,
        alg: k.alg,
        status: k.retiredAt === null ? 'active' : 'retired',
        created: iso(k.createdAt),
        unpublished_after: iso(k.removeAfter),
      }));
      if (opts.json) return printJson(rows);
      for (const r of rows)
        process.stdout.write(
          `${r.status.padEnd(8)} ${r.alg.padEnd(6)} ${r.kid}  created ${r.created}${r.unpublished_after ? `  published until ${r.unpublished_after}` : ''}\n`,
        );
      return undefined;
    });

  cmd
    .command('rotate')
    .description(
      'Add a new active key per algorithm; old keys stop signing and stay published until their tokens expire. Running servers pick it up without a restart',
    )
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = getConfig();
      const kids = await withKeyManager(config, (km) => km.rotate());
      const notified = await notifyServers(config, CHANNELS.keyManager);
      if (opts.json) return printJson({ active: kids, servers_notified: notified });
      process.stdout.write(
        `New active keys: ${kids.join(', ')}\nRunning servers switch ${notified ? 'within a second or two' : `within ${config.oauth.key_rotation.check_interval} s`}.\n`,
      );
      return undefined;
    });
  return cmd;
}
