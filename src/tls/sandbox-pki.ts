/**
 * Sandbox mode's development PKI: a root CA and a TLS server certificate, generated on first
 * start into `{data_dir}/pki/` and reused afterwards, so TPP developers trust one CA once.
 * Production mode never calls this; it requires `[keystore.tls]` files.
 */
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createCertificateAuthority, issueServerCertificate } from '../crypto/pki.ts';
import type { IssuedCertificate } from '../crypto/pki.ts';
import { createTruststore } from './truststore.ts';

/** Options of {@link ensureSandboxPki}. */
export interface SandboxPkiOptions {
  readonly dataDir: string;
  readonly truststoreDir: string;
  /** `[server] hostname`; the server certificate also covers localhost, 127.0.0.1 and ::1. */
  readonly hostname: string;
  readonly now?: Date;
}

/** The sandbox CA and server certificate, as PEM. */
export interface SandboxPki {
  readonly caCertPem: string;
  /** Server certificate chain (the server certificate; the root is left out, as TLS expects). */
  readonly serverCertPem: string;
  readonly serverKeyPem: string;
  /** True when this call generated the CA (first start). */
  readonly created: boolean;
}

// Distinguished in certificate order, i.e. "CN=OpenDCR Sandbox Root CA,O=OpenDCR Sandbox" in RFC 4514.
const CA_SUBJECT = 'O=OpenDCR Sandbox, CN=OpenDCR Sandbox Root CA';
const CA_VALIDITY_DAYS = 3650;
// 397 days: the longest validity browsers accept for a server certificate.
const SERVER_VALIDITY_DAYS = 397;
const RENEW_BEFORE_MS = 7 * 86_400_000;
const PEM_KEY = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\s*/;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\s*/;

/**
 * Loads, or creates on first start, `{dataDir}/pki/ca.pem`, `ca-key.pem`, `server.pem` and
 * `server-key.pem`, renews the server certificate when it is missing, expires within 7 days or
 * does not cover `hostname`, and makes sure the CA is in the trust store (so client certificates
 * a developer issues from it are accepted).
 *
 * `ca-key.pem` also carries the CA certificate: creating that one file with an exclusive link
 * is the single commit point, so two processes starting together agree on one CA (the loser
 * reads the winner's), and `ca.pem` can always be rewritten from it.
 */
export async function ensureSandboxPki(opts: SandboxPkiOptions): Promise<SandboxPki> {
  const dir = join(opts.dataDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const now = opts.now ?? new Date();
  const { ca, created } = await ensureCa(dir, now);
  const server = await ensureServerCertificate(dir, ca, opts.hostname, now);
  const fingerprint = ca.x509.fingerprint256.replaceAll(':', '').slice(0, 16).toLowerCase();
  createTruststore(opts.truststoreDir).add(ca.certPem, `opendcr-sandbox-root-ca-${fingerprint}`);
  return { caCertPem: ca.certPem, serverCertPem: server.certPem, serverKeyPem: server.keyPem, created };
}

async function ensureCa(dir: string, now: Date): Promise<{ ca: IssuedCertificate; created: boolean }> {
  const keyFile = join(dir, 'ca-key.pem');
  const certFile = join(dir, 'ca.pem');
  let ca = readCa(keyFile, certFile);
  let created = false;
  if (!ca) {
    const fresh = await createCertificateAuthority({ subject: CA_SUBJECT, validityDays: CA_VALIDITY_DAYS, now });
    const temp = tempPath(keyFile);
    try {
      writeFileSync(temp, `${fresh.keyPem.trim()}\n${fresh.certPem}`, { mode: 0o600, flag: 'wx' });
      linkSync(temp, keyFile);
      ca = fresh;
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      ca = readCa(keyFile, certFile); // another process won the race: use its CA
    } finally {
      rmSync(temp, { force: true });
    }
    if (!ca) throw new Error(`${keyFile} was created concurrently but cannot be read`);
  }
  if (readText(certFile) !== ca.certPem) replaceFile(certFile, ca.certPem, 0o644);
  return { ca, created };
}

function readCa(keyFile: string, certFile: string): IssuedCertificate | undefined {
  const text = readText(keyFile);
  if (text === undefined) return undefined;
  const keyPem = PEM_KEY.exec(text)?.[0];
  // Older layouts kept only the key in ca-key.pem; then ca.pem holds the certificate.
  const certPem = PEM_CERT.exec(text)?.[0] ?? PEM_CERT.exec(readText(certFile) ?? '')?.[0];
  if (!keyPem || !certPem) {
    throw new Error(`${keyFile} does not hold the sandbox CA key and certificate; delete the pki folder to generate a new sandbox CA`);
  }
  const x509 = new X509Certificate(certPem);
  if (!keyMatches(keyPem, x509))
    throw new Error(`${keyFile}: the CA key does not match the CA certificate; delete the pki folder to generate a new sandbox CA`);
  const pem = `${certPem.trim()}\n`;
  return { certPem: pem, keyPem: `${keyPem.trim()}\n`, chainPem: pem, x509 };
}

async function ensureServerCertificate(dir: string, ca: IssuedCertificate, hostname: string, now: Date): Promise<IssuedCertificate> {
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server-key.pem');
  const names = serverNames(hostname);
  const existing = readServer(certFile, keyFile);
  if (existing && isUsable(existing, ca, names, now)) return existing;

  const server = await issueServerCertificate(ca, { ...names, validityDays: SERVER_VALIDITY_DAYS, now });
  // Key first: a reader that sees the new certificate also finds its key. Two processes renewing
  // at once can still leave a mismatched pair on disk; each uses its own pair in memory, and
  // the next start sees the mismatch (keyMatches) and renews again.
  replaceFile(keyFile, server.keyPem, 0o600);
  replaceFile(certFile, server.chainPem, 0o644);
  return server;
}

function readServer(certFile: string, keyFile: string): IssuedCertificate | undefined {
  const chainPem = readText(certFile);
  const keyPem = readText(keyFile);
  const certPem = PEM_CERT.exec(chainPem ?? '')?.[0];
  if (!chainPem || !keyPem || !certPem) return undefined;
  try {
    return { certPem, keyPem, chainPem, x509: new X509Certificate(certPem) };
  } catch {
    return undefined; // unreadable: issue a new one
  }
}

function isUsable(server: IssuedCertificate, ca: IssuedCertificate, names: ServerNames, now: Date): boolean {
  const cert = server.x509;
  return (
    cert.checkIssued(ca.x509) &&
    cert.verify(ca.x509.publicKey) &&
    cert.validToDate.getTime() - now.getTime() > RENEW_BEFORE_MS &&
    names.dnsNames.every((name) => cert.checkHost(name) !== undefined) &&
    names.ipAddresses.every((ip) => cert.checkIP(ip) !== undefined) &&
    keyMatches(server.keyPem, cert)
  );
}

interface ServerNames {
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
}

function serverNames(hostname: string): ServerNames {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  // The configured name goes first: it becomes the certificate's CN.
  if (isIP(host)) return { dnsNames: ['localhost'], ipAddresses: [...new Set([host, '127.0.0.1', '::1'])] };
  return { dnsNames: [...new Set([host, 'localhost'])], ipAddresses: ['127.0.0.1', '::1'] };
}

function keyMatches(keyPem: string, cert: X509Certificate): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    return fromKey.equals(cert.publicKey.export({ type: 'spki', format: 'der' }));
  } catch {
    return false;
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

// Temp file + rename, so a concurrent reader sees the old or the new file, never half of one.
function replaceFile(file: string, content: string, mode: number): void {
  const temp = tempPath(file);
  try {
    writeFileSync(temp, content, { mode, flag: 'wx' });
    renameSync(temp, file);
  } finally {
    rmSync(temp, { force: true });
  }
}

function tempPath(file: string): string {
  return `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}
