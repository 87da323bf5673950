/**
 * `opendcr truststore add|list|remove`: the CA certificates trusted for client (transport)
 * certificates. `add` writes to the database, where every host of a cluster reads, and announces
 * the change: running servers use it within a second or two. `list` shows the database's and
 * this host's folder's; `remove` takes one out of either.
 */
import { Command } from 'commander';
import type { Config } from '../../config/schema.ts';
import { openStorage } from '../../storage/index.ts';
import { CHANNELS } from '../../shared-state/index.ts';
import { createTruststore, TruststoreError } from '../../tls/truststore.ts';
import { createTrustAnchors, type TrustAnchors } from '../../tls/trust-anchors.ts';
import type { TrustedCa } from '../../tls/truststore.ts';
import { ConflictError } from '../../storage/ports.ts';
import { CliError, notifyServers, printJson } from '../shared.ts';

/** Runs `fn` over the trust anchors of the configured database and folder; `announce` tells running servers. */
async function withAnchors<T>(config: Config, fn: (anchors: TrustAnchors, announce: () => Promise<boolean>) => Promise<T>): Promise<T> {
  const storage = await openStorage({ url: config.derived.databaseUrl, poolSize: 2, busyTimeoutMs: config.database.busy_timeout });
  try {
    const anchors = createTrustAnchors({ folder: createTruststore(config.derived.truststoreDir), store: storage.trustAnchors });
    const announce = () => notifyServers(config, CHANNELS.trust);
    return await fn(anchors, announce);
  } catch (err) {
    // A stack trace helps no operator here: the message says what is wrong.
    if (err instanceof TruststoreError || err instanceof ConflictError) throw new CliError(err.message, 1);
    throw err;
  } finally {
    await storage.close();
  }
}

/**
 * Builds the `truststore` command. `loadConfig` is called only when a subcommand runs, so
 * `--help` works without a configuration file.
 */
export function truststoreCommand(loadConfig: () => Config): Command {
  const cmd = new Command('truststore').description('Manage the CA certificates trusted for client (transport) certificates');

  cmd
    .command('add')
    .description('Trust a CA certificate (PEM or DER file) on every host of this database; leaf and expired certificates are refused')
    .argument('<pem-file>', 'the CA certificate file')
    .option('--name <name>', 'its name (default: the SHA-256 fingerprint)')
    .action(async (file: string, opts: { name?: string }) => {
      const { ca, added } = await withAnchors(loadConfig(), async (anchors, announce) => {
        const result = await anchors.add(file, opts.name);
        if (result.added) await announce();
        return result;
      });
      process.stdout.write(`${added ? 'Trusted' : 'Already trusted'} ${ca.subject}\n  name   ${ca.name}\n  sha256 ${ca.fingerprint256}\n`);
    });

  cmd
    .command('list')
    .description("List the trusted CA certificates (the database's, shared by the cluster, and this host's folder)")
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const cas = await withAnchors(loadConfig(), (anchors) => anchors.list());
      if (opts.json) return printJson(cas.map(toJson));
      if (cas.length === 0) process.stdout.write('The trust store is empty.\n');
      for (const ca of cas) {
        process.stdout.write(
          `${ca.name} (${ca.source})\n  subject   ${ca.subject}\n  issuer    ${ca.issuer}\n  not after ${ca.notAfter.toISOString()}\n  sha256    ${ca.fingerprint256}\n`,
        );
      }
      return undefined;
    });

  cmd
    .command('remove')
    .description("Stop trusting a CA certificate (from the database, else from this host's folder)")
    .argument('<name-or-fingerprint>', 'name (as listed) or SHA-256 fingerprint')
    .action(async (nameOrFingerprint: string) => {
      const where = await withAnchors(loadConfig(), async (anchors, announce) => {
        const removed = await anchors.remove(nameOrFingerprint);
        if (removed === 'database') await announce();
        return removed;
      });
      if (!where) throw new CliError(`no trusted CA named or with fingerprint "${nameOrFingerprint}"`, 1);
      process.stdout.write(`Removed ${nameOrFingerprint} (${where})\n`);
    });
  return cmd;
}

function toJson(ca: TrustedCa & { source: string }): Record<string, string> {
  return { name: ca.name, source: ca.source, subject: ca.subject, issuer: ca.issuer, not_after: ca.notAfter.toISOString(), fingerprint256: ca.fingerprint256 };
}
