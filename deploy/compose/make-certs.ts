/**
 * Makes the certificates compose.yaml mounts, for trying the cluster out (a bank uses its own PKI
 * for these and the OB directory's CAs for TPPs):
 *
 *   certs/internal-ca.pem                    a throw-away CA (its key is not kept)
 *   certs/lb.pem, certs/lb-key.pem           the load balancer's certificate, for --host
 *   certs/opendcr.pem, certs/opendcr-key.pem the instances' certificate: opendcr, opendcr-1,
 *                                            opendcr-2 (what the load balancer checks) and --host
 *
 *   node_modules/.bin/node deploy/compose/make-certs.ts [--host NAME] [--out DIR] [--force]
 *
 * --host defaults to OPENDCR_PUBLIC_HOST or localhost; --out to certs/ beside this file. Existing
 * files are kept unless --force. Keys are written readable by their owner only.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createCertificateAuthority, issueServerCertificate } from '../../src/crypto/pki.ts';

/** Every file this script writes, relative to the output folder. */
export const CERT_FILES = ['internal-ca.pem', 'lb.pem', 'lb-key.pem', 'opendcr.pem', 'opendcr-key.pem'] as const;

/** The names the load balancer reaches the instances by (nginx proxy_ssl_name and upstream hosts). */
export const INSTANCE_NAMES = ['opendcr', 'opendcr-1', 'opendcr-2'] as const;

export interface MakeCertsOptions {
  readonly host: string;
  readonly out: string;
  readonly force?: boolean;
  readonly validityDays?: number;
}

export async function makeCerts(opts: MakeCertsOptions): Promise<string[]> {
  const paths = CERT_FILES.map((f) => join(opts.out, f));
  const present = paths.filter((p) => existsSync(p));
  if (present.length > 0 && !opts.force) {
    throw new Error(`${present.join(', ')} already exist; pass --force to replace them`);
  }
  const validityDays = opts.validityDays ?? 365;
  const names = (extra: readonly string[]) => {
    const all = [...new Set([opts.host, ...extra])];
    return { dnsNames: all.filter((n) => !isIP(n)), ipAddresses: all.filter((n) => isIP(n)) };
  };
  const ca = await createCertificateAuthority({ subject: 'CN=OpenDCR compose internal CA', validityDays });
  const lb = await issueServerCertificate(ca, { ...names(['localhost', '127.0.0.1']), validityDays });
  const instances = await issueServerCertificate(ca, { ...names(INSTANCE_NAMES), validityDays });
  mkdirSync(opts.out, { recursive: true });
  const write = (file: string, text: string, mode: number) => writeFileSync(join(opts.out, file), text, { mode });
  write('internal-ca.pem', ca.certPem, 0o644);
  write('lb.pem', lb.chainPem, 0o644);
  write('lb-key.pem', lb.keyPem, 0o600);
  write('opendcr.pem', instances.chainPem, 0o644);
  write('opendcr-key.pem', instances.keyPem, 0o600);
  return paths;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { host: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } },
    strict: true,
    allowPositionals: false,
  });
  const out = values.out ?? join(dirname(fileURLToPath(import.meta.url)), 'certs');
  try {
    const files = await makeCerts({ host: values.host ?? process.env['OPENDCR_PUBLIC_HOST'] ?? 'localhost', out, force: values.force ?? false });
    for (const f of files) process.stdout.write(`wrote ${f}\n`);
    if (process.getuid?.() !== 1000) {
      process.stdout.write(
        `The instances run as uid 1000 and must read ${join(out, 'opendcr-key.pem')}: chown 1000 it (e.g. sudo chown 1000 ${join(out, 'opendcr-key.pem')}).\n`,
      );
    }
  } catch (err) {
    process.stderr.write(`make-certs: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
