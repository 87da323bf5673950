/**
 * `opendcr truststore add|list|remove`: the CA certificates trusted for client (transport)
 * certificates. A running server picks changes up without a restart (it watches the folder).
 */
import { Command } from 'commander';
import { createTruststore, TruststoreError } from '../../tls/truststore.ts';
import type { Truststore, TrustedCa } from '../../tls/truststore.ts';
import { CliError, printJson } from '../shared.ts';

/**
 * Builds the `truststore` command. `loadConfig` is called only when a subcommand runs, so
 * `--help` works without a configuration file.
 */
export function truststoreCommand(loadConfig: () => { derived: { truststoreDir: string } }): Command {
  const cmd = new Command('truststore').description('Manage the CA certificates trusted for client (transport) certificates');
  // Errors become CliError (exit 1, message only): a stack trace helps no operator here.
  const withStore = <T>(fn: (store: Truststore) => T): T => {
    try {
      return fn(createTruststore(loadConfig().derived.truststoreDir));
    } catch (err) {
      if (err instanceof TruststoreError) throw new CliError(err.message, 1);
      throw err;
    }
  };

  cmd.command('add')
    .description('Trust a CA certificate (PEM or DER file); leaf and expired certificates are refused')
    .argument('<pem-file>', 'the CA certificate file')
    .option('--name <name>', 'file name in the trust store (default: the SHA-256 fingerprint)')
    .action((file: string, opts: { name?: string }) => {
      const ca = withStore((store) => store.add(file, opts.name));
      process.stdout.write(`Trusted ${ca.subject}\n  file ${ca.name}\n  sha256 ${ca.fingerprint256}\n`);
    });

  cmd.command('list')
    .description('List the trusted CA certificates')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const cas = withStore((store) => store.list());
      if (opts.json) return printJson(cas.map(toJson));
      if (cas.length === 0) process.stdout.write('The trust store is empty.\n');
      for (const ca of cas) {
        process.stdout.write(`${ca.name}\n  subject   ${ca.subject}\n  issuer    ${ca.issuer}\n  not after ${ca.notAfter.toISOString()}\n  sha256    ${ca.fingerprint256}\n`);
      }
      return undefined;
    });

  cmd.command('remove')
    .description('Stop trusting a CA certificate')
    .argument('<name-or-fingerprint>', 'file name (as listed) or SHA-256 fingerprint')
    .action((nameOrFingerprint: string) => {
      if (!withStore((store) => store.remove(nameOrFingerprint))) {
        throw new CliError(`no trusted CA named or with fingerprint "${nameOrFingerprint}"`, 1);
      }
      process.stdout.write(`Removed ${nameOrFingerprint}\n`);
    });
  return cmd;
}

function toJson(ca: TrustedCa): Record<string, string> {
  return { name: ca.name, subject: ca.subject, issuer: ca.issuer, not_after: ca.notAfter.toISOString(), fingerprint256: ca.fingerprint256 };
}
