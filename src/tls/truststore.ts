/**
 * The client-certificate trust store: a folder of PEM CA certificates (the analogue of WSO2's
 * client-truststore). A folder rather than a keystore file so operators can manage it with
 * `cp`/`rm` or config management, and so a running server can pick changes up by watching it.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, readdirSync, rmSync, unlinkSync, watch as watchFolder, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Stable codes of {@link TruststoreError}. */
export type TruststoreErrorCode =
  | 'ERR_TRUSTSTORE_FILE_NOT_FOUND'
  | 'ERR_TRUSTSTORE_NOT_A_CERTIFICATE'
  | 'ERR_TRUSTSTORE_NOT_A_CA'
  | 'ERR_TRUSTSTORE_EXPIRED'
  | 'ERR_TRUSTSTORE_NAME_TAKEN'
  | 'ERR_TRUSTSTORE_INVALID_NAME'
  | 'ERR_TRUSTSTORE_BUNDLE'
  | 'ERR_TRUSTSTORE_IO';

/** A trust store operation failed; `message` is written for the operator. */
export class TruststoreError extends Error {
  override name = 'TruststoreError';
  readonly code: TruststoreErrorCode;
  constructor(code: TruststoreErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** One CA certificate in the trust store. */
export interface TrustedCa {
  /** File name inside the folder. */
  readonly name: string;
  readonly subject: string;
  readonly issuer: string;
  readonly notAfter: Date;
  /** SHA-256 fingerprint as `AB:CD:...`, as Node and OpenSSL print it. */
  readonly fingerprint256: string;
  readonly pem: string;
}

/** The trust store API, over one folder. */
export interface Truststore {
  readonly dir: string;
  /** Valid CA certificates, sorted by file name. */
  list(): TrustedCa[];
  /**
   * Adds a CA given as PEM text or a path to a PEM/DER file; `name` picks the file name.
   * Adding a certificate that is already present (same fingerprint) changes nothing.
   * @throws {TruststoreError} for a missing file, non-certificate, leaf certificate or expired CA.
   */
  add(pemOrPath: string, name?: string): TrustedCa;
  /** Removes by file name (with or without `.pem`) or SHA-256 fingerprint; false when absent. */
  remove(nameOrFingerprint: string): boolean;
  /** PEMs of every valid CA; invalid files are skipped and reported through `onInvalidFile`. */
  loadCaPems(): string[];
  /** Calls `onChange` with the new CA list when the folder's certificates change. */
  watch(onChange: (pems: string[]) => void): { close(): void };
}

/** Options of {@link createTruststore}. */
export interface TruststoreOptions {
  /** Told about files that are skipped; default a process warning. */
  readonly onInvalidFile?: (file: string, error: TruststoreError) => void;
  readonly now?: () => Date;
  /** Quiet period before a change is reported: one `cp` can fire several events. Default 100 ms. */
  readonly debounceMs?: number;
}

const CERT_FILE = /\.(?:pem|crt|cer)$/i;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Opens (creating it with mode 0700 when missing) the trust store folder `dir`.
 * @throws {TruststoreError} when the folder cannot be created.
 */
export function createTruststore(dir: string, opts: TruststoreOptions = {}): Truststore {
  const now = opts.now ?? (() => new Date());
  const debounceMs = opts.debounceMs ?? 100;
  const onInvalidFile = opts.onInvalidFile ?? ((file, err) => process.emitWarning(`trust store: skipping ${file}: ${err.message}`, { code: err.code }));
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new TruststoreError('ERR_TRUSTSTORE_IO', `cannot create the trust store folder ${dir}: ${(err as Error).message}`, { cause: err });
  }

  function scan(report: boolean): TrustedCa[] {
    const entries: TrustedCa[] = [];
    // Dot files are our own in-flight temp files (and editor droppings); never read them.
    for (const file of readdirSync(dir)
      .filter((f) => CERT_FILE.test(f) && !f.startsWith('.'))
      .sort()) {
      let pems: string[];
      try {
        pems = splitPem(readFileSync(join(dir, file), 'utf8'), file);
      } catch (err) {
        if (report) onInvalidFile(file, asTruststoreError(err, file));
        continue;
      }
      // A bundle file keeps its good certificates when one of them is bad.
      for (const pem of pems) {
        try {
          entries.push(describe(file, checkCa(pem, file, now())));
        } catch (err) {
          if (report) onInvalidFile(file, asTruststoreError(err, file));
        }
      }
    }
    return entries;
  }

  return {
    dir,
    list: () => scan(false),
    loadCaPems: () => scan(true).map((ca) => ca.pem),

    add(pemOrPath, name) {
      const cert = checkCa(readCertificateInput(pemOrPath), pemOrPath.includes('-----BEGIN') ? 'the certificate' : pemOrPath, now());
      const existing = scan(false).find((ca) => ca.fingerprint256 === cert.fingerprint256);
      if (existing) return existing;
      const file = name ? fileNameFor(name) : `${cert.fingerprint256.replaceAll(':', '').toLowerCase()}.pem`;
      if (!createAtomically(dir, file, cert.toString())) {
        // Someone (another worker adding the same CA) got there first: fine if it is the same certificate.
        const same = scan(false).find((ca) => ca.name === file && ca.fingerprint256 === cert.fingerprint256);
        if (same) return same;
        throw new TruststoreError('ERR_TRUSTSTORE_NAME_TAKEN', `${file} already exists in the trust store with another certificate; choose another name`);
      }
      return describe(file, cert);
    },

    remove(nameOrFingerprint) {
      const wanted = nameOrFingerprint.replaceAll(':', '').toLowerCase();
      const match = scan(false).find(
        (ca) => ca.name === nameOrFingerprint || ca.name === `${nameOrFingerprint}.pem` || ca.fingerprint256.replaceAll(':', '').toLowerCase() === wanted,
      );
      if (!match) return false;
      const inFile = scan(false).filter((ca) => ca.name === match.name).length;
      if (inFile > 1) {
        throw new TruststoreError('ERR_TRUSTSTORE_BUNDLE', `${match.name} holds ${inFile} CA certificates; edit that file to remove just one`);
      }
      try {
        unlinkSync(join(dir, match.name));
      } catch (err) {
        throw new TruststoreError('ERR_TRUSTSTORE_IO', `cannot remove ${match.name}: ${(err as Error).message}`, { cause: err });
      }
      return true;
    },

    watch(onChange) {
      let last = scan(false)
        .map((ca) => ca.pem)
        .join('\n');
      let timer: NodeJS.Timeout | undefined;
      const fire = () => {
        timer = undefined;
        const pems = scan(true).map((ca) => ca.pem);
        // Only real changes: setSecureContext drops the TLS session cache, so don't churn it.
        const joined = pems.join('\n');
        if (joined === last) return;
        last = joined;
        onChange(pems);
      };
      const watcher = watchFolder(dir, { persistent: false }, (_event, file) => {
        if (file?.startsWith('.')) return;
        clearTimeout(timer);
        timer = setTimeout(fire, debounceMs);
      });
      // The folder can be deleted under us; keep serving with the last CA list rather than crash.
      watcher.on('error', (err) => onInvalidFile(dir, new TruststoreError('ERR_TRUSTSTORE_IO', `watching stopped: ${err.message}`, { cause: err })));
      return {
        close() {
          clearTimeout(timer);
          watcher.close();
        },
      };
    },
  };
}

/**
 * Checks one CA certificate given as PEM text or a path to a PEM/DER file (one certificate, cA
 * set, not expired) and describes it under `name` (default: its fingerprint), as the trust store
 * would store it. Shared by the folder and the database trust anchors (tls/trust-anchors.ts).
 * @throws {TruststoreError}
 */
export function inspectCa(pemOrPath: string, name?: string, now: Date = new Date()): TrustedCa {
  const cert = checkCa(readCertificateInput(pemOrPath), pemOrPath.includes('-----BEGIN') ? 'the certificate' : pemOrPath, now);
  return describe(name ? fileNameFor(name) : `${cert.fingerprint256.replaceAll(':', '').toLowerCase()}.pem`, cert);
}

function readCertificateInput(pemOrPath: string): X509Certificate | string {
  if (pemOrPath.includes('-----BEGIN')) return pemOrPath;
  let data: Buffer;
  try {
    data = readFileSync(pemOrPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TruststoreError('ERR_TRUSTSTORE_FILE_NOT_FOUND', `${pemOrPath}: no such file`, { cause: err });
    throw new TruststoreError('ERR_TRUSTSTORE_IO', `cannot read ${pemOrPath}: ${(err as Error).message}`, { cause: err });
  }
  const text = data.toString('latin1');
  if (text.includes('-----BEGIN')) return text;
  try {
    return new X509Certificate(data); // DER, as Windows and Java tools export it
  } catch (err) {
    throw new TruststoreError('ERR_TRUSTSTORE_NOT_A_CERTIFICATE', `${pemOrPath} is not a PEM or DER X.509 certificate`, { cause: err });
  }
}

function splitPem(text: string, label: string): string[] {
  const blocks = text.match(PEM_BLOCK);
  if (!blocks) throw new TruststoreError('ERR_TRUSTSTORE_NOT_A_CERTIFICATE', `${label} contains no PEM certificate`);
  return blocks;
}

/** Parses and checks one CA certificate: cA set and not expired. */
function checkCa(input: X509Certificate | string, label: string, now: Date): X509Certificate {
  let cert: X509Certificate;
  if (typeof input === 'string') {
    const blocks = splitPem(input, label);
    if (blocks.length > 1)
      throw new TruststoreError('ERR_TRUSTSTORE_NOT_A_CERTIFICATE', `${label} holds ${blocks.length} certificates; add them one at a time`);
    try {
      cert = new X509Certificate(blocks[0]!);
    } catch (err) {
      throw new TruststoreError('ERR_TRUSTSTORE_NOT_A_CERTIFICATE', `${label} is not a valid X.509 certificate`, { cause: err });
    }
  } else {
    cert = input;
  }
  if (!cert.ca) {
    throw new TruststoreError(
      'ERR_TRUSTSTORE_NOT_A_CA',
      `${label} is not a CA certificate (basicConstraints cA is not set; subject "${oneLine(cert.subject)}"); add the CA that issued it instead`,
    );
  }
  if (cert.validToDate < now) {
    throw new TruststoreError('ERR_TRUSTSTORE_EXPIRED', `${label} expired on ${cert.validToDate.toISOString()} (subject "${oneLine(cert.subject)}")`);
  }
  return cert;
}

function describe(name: string, cert: X509Certificate): TrustedCa {
  return {
    name,
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    notAfter: cert.validToDate,
    fingerprint256: cert.fingerprint256,
    pem: cert.toString(),
  };
}

// Node prints names one RDN per line; a list wants them on one.
function oneLine(name: string): string {
  return name.split('\n').join(', ');
}

// Only characters that are safe in every file system and shell; never a path separator.
function fileNameFor(name: string): string {
  const base = name
    .replace(/\.(?:pem|crt|cer)$/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+/, '')
    .slice(0, 100);
  if (!base) throw new TruststoreError('ERR_TRUSTSTORE_INVALID_NAME', `"${name}" cannot be used as a file name`);
  return `${base}.pem`;
}

/**
 * Writes a temp file, then hard-links it into place: the watcher (and other workers) never
 * read a half-written certificate, and an existing file is never overwritten.
 * @returns false when `file` already exists.
 */
function createAtomically(dir: string, file: string, content: string): boolean {
  const temp = join(dir, `.${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(temp, content, { mode: 0o644, flag: 'wx' });
    linkSync(temp, join(dir, file));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new TruststoreError('ERR_TRUSTSTORE_IO', `cannot write ${file} to the trust store: ${(err as Error).message}`, { cause: err });
  } finally {
    rmSync(temp, { force: true });
  }
}

function asTruststoreError(err: unknown, file: string): TruststoreError {
  return err instanceof TruststoreError ? err : new TruststoreError('ERR_TRUSTSTORE_IO', `${file}: ${(err as Error).message}`, { cause: err });
}
