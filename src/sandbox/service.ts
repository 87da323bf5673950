/**
 * The sandbox directory and its TPPs as every surface manages them: the command line
 * (`opendcr sandbox …`), the console's sandbox API and `npm run demo` all call these functions,
 * which return what they did so each surface shows it its own way, and refuse with coded errors
 * (AppError) worded for any of them. Files follow the layout in store.ts. Where the sandbox key
 * sets are published (`{server}/sandbox`) is passed in: the command line finds the running
 * server of its data folder, the server knows its own URL.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { fail } from '../errors/app-error.ts';
import { THIRD_PARTY_ROLES } from '../ob/roles.ts';
import { createTruststore, TruststoreError } from '../tls/truststore.ts';
import type { TrustedCa } from '../tls/truststore.ts';
import { createSandboxDirectory, loadSandboxDirectory } from './directory.ts';
import type { SandboxDirectory } from './directory.ts';
import { createSandboxTpp, reissueSandboxTpp } from './tpp.ts';
import type { SandboxRole, SandboxTpp, SoftwareEnvironment } from './tpp.ts';
import { createSandboxStore, saveDirectory, saveTpp, sandboxPaths } from './store.ts';

/**
 * Where this data folder's server publishes the sandbox key sets (`{server}/sandbox`, routes.ts),
 * and whether that server is running now (else `url` is the configured base URL's).
 */
export interface SandboxPlace {
  readonly url: string;
  readonly running: boolean;
}

export const SANDBOX_ROLES: readonly SandboxRole[] = THIRD_PARTY_ROLES;

/** The files a TPP folder holds (sandbox/store.ts), by what a TPP developer uses them for. */
export const TPP_FILES = {
  tpp: 'tpp.json',
  transportCert: 'transport.pem',
  transportChain: 'transport-chain.pem',
  transportKey: 'transport-key.pem',
  signingKey: 'signing-key.pem',
  softwareJwks: 'software.jwks.json',
  ssa: 'ssa.jwt',
  registration: 'registration.json',
} as const;

/** Production mode disables every sandbox feature that issues identities: `what` names the one asked for. */
export function requireSandboxMode(config: Config, what: string): void {
  if (config.server.mode !== 'sandbox') {
    throw fail(
      'SANDBOX_DISABLED',
      `${what} is disabled in production mode ([server] mode = "production" in ${config.source ?? 'the configuration'}): ` +
        'sandbox identities are for test systems only; TPPs of a production bank enrol with the Open Banking Directory',
    );
  }
}

/** The directory JWKS URL an OpenDCR server uses for SSAs from this sandbox. */
export const sandboxJwksUrl = (base: string): string => `${base}/directory/jwks`;

export interface InitResult {
  readonly directory: SandboxDirectory;
  readonly folder: string;
  /** The root and issuing CA as added to the trust store. */
  readonly trusted: readonly TrustedCa[];
  /** TPP folders removed because the directory that issued them was replaced (`force`). */
  readonly removedTpps: number;
  /** What a server that does not share this data folder needs in its opendcr.toml. */
  readonly configLines: string;
}

/**
 * A new directory in {data_dir}/sandbox, with its CAs in the trust store. `force` replaces an
 * existing directory, its TPPs (their certificates chain to the old CAs) and the old CAs' trust
 * store entries. `base`: where the server publishes the sandbox key sets (SandboxPlace.url).
 */
export async function initSandbox(config: Config, base: string, opts: { name?: string; force?: boolean; what?: string } = {}): Promise<InitResult> {
  requireSandboxMode(config, opts.what ?? 'creating the sandbox directory');
  const { dataDir, truststoreDir } = config.derived;
  const paths = sandboxPaths(dataDir);
  let removedTpps = 0;
  const truststore = withTruststore(() => createTruststore(truststoreDir));
  if (existsSync(paths.directory)) {
    if (!opts.force) {
      throw fail('SANDBOX_EXISTS', `a sandbox directory already exists in ${paths.root}`);
    }
    const old = readDirectory(paths.directory);
    if (old) for (const ca of [old.rootCa, old.issuingCa]) withTruststore(() => truststore.remove(ca.x509.fingerprint256));
    if (existsSync(paths.tpps)) {
      removedTpps = createSandboxStore(dataDir).tpps().length;
      rmSync(paths.tpps, { recursive: true, force: true });
    }
  }
  let directory: SandboxDirectory;
  try {
    directory = await createSandboxDirectory(opts.name === undefined ? {} : { name: opts.name });
  } catch (err) {
    if (err instanceof TypeError) throw fail('SANDBOX_DIRECTORY_INVALID', `name: ${err.message}`);
    throw err;
  }
  saveDirectory(dataDir, directory);
  const tag = (ca: { x509: { fingerprint256: string } }) => ca.x509.fingerprint256.replaceAll(':', '').slice(0, 16).toLowerCase();
  const trusted = withTruststore(() => [
    truststore.add(directory.rootCa.certPem, `sandbox-directory-root-ca-${tag(directory.rootCa)}`),
    truststore.add(directory.issuingCa.certPem, `sandbox-directory-issuing-ca-${tag(directory.issuingCa)}`),
  ]);
  return { directory, folder: paths.root, trusted, removedTpps, configLines: serverConfigLines(config, base, directory) };
}

/** The opendcr.toml lines for another server to trust this sandbox directory. */
export function serverConfigLines(config: Config, base: string, directory: SandboxDirectory): string {
  const issuers = [...new Set([...config.open_banking.dcr.regulatory_issuers, directory.issuer])];
  return [
    '[oauth]',
    `allowed_outbound_hosts = ${JSON.stringify([new URL(base).host])}`,
    '',
    '[open_banking.dcr]',
    `jwks_url_sandbox = ${JSON.stringify(sandboxJwksUrl(base))}`,
    `regulatory_issuers = ${JSON.stringify(issuers).replaceAll('","', '", "')}`,
  ].join('\n');
}

function readDirectory(file: string): SandboxDirectory | undefined {
  try {
    return loadSandboxDirectory(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return undefined; // unreadable: `force` replaces it anyway
  }
}

function withTruststore<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TruststoreError) throw fail('SANDBOX_TRUSTSTORE', err.message, { cause: err });
    throw err;
  }
}

/** The directory; SANDBOX_NOT_INITIALISED before it is made, SANDBOX_UNREADABLE when its file cannot be read. */
export function requireDirectory(config: Config): SandboxDirectory {
  const store = createSandboxStore(config.derived.dataDir);
  let directory: SandboxDirectory | undefined;
  try {
    directory = store.directory();
  } catch (err) {
    throw fail('SANDBOX_UNREADABLE', `${store.paths.directory} is not a readable sandbox directory (${(err as Error).message})`, { cause: err });
  }
  if (!directory) throw fail('SANDBOX_NOT_INITIALISED', `there is no sandbox directory in ${store.paths.root} yet`);
  return directory;
}

export interface CreateTppInput {
  readonly name: string;
  readonly roles: readonly string[];
  readonly redirectUris: readonly string[];
  readonly environment?: string;
}

export interface TppFolder {
  readonly tpp: SandboxTpp;
  readonly folder: string;
}

/** Parses roles given as `AISP,PISP` (any case, commas or spaces). */
export function parseRoles(value: string): SandboxRole[] {
  const roles = [
    ...new Set(
      value
        .split(/[\s,]+/)
        .filter(Boolean)
        .map((r) => r.toUpperCase()),
    ),
  ];
  const bad = roles.filter((r) => !SANDBOX_ROLES.includes(r as SandboxRole));
  if (roles.length === 0 || bad.length > 0) {
    throw fail('SANDBOX_TPP_INVALID', `roles must list ${SANDBOX_ROLES.join(', ')} separated by commas${bad.length ? `; unknown: ${bad.join(', ')}` : ''}`);
  }
  return roles as SandboxRole[];
}

/**
 * Enrols a TPP in the directory, mints its first SSA and writes its folder. Its key sets are
 * published by the server at `base` (SandboxPlace.url).
 */
export async function createTpp(config: Config, base: string, input: CreateTppInput, what = 'enrolling a sandbox TPP'): Promise<TppFolder & { ssa: string }> {
  requireSandboxMode(config, what);
  const directory = requireDirectory(config);
  const environment = input.environment ?? 'sandbox';
  if (environment !== 'sandbox' && environment !== 'production') throw fail('SANDBOX_TPP_INVALID', 'environment must be sandbox or production');
  const clash = listTpps(config).find((t) => t.name === input.name);
  if (clash) throw fail('SANDBOX_TPP_EXISTS', `a TPP named "${input.name}" already exists (software_id ${clash.softwareId}); choose another name`);
  let tpp: SandboxTpp;
  try {
    tpp = await createSandboxTpp(directory, {
      name: input.name,
      roles: parseRoles(input.roles.join(',')),
      redirectUris: input.redirectUris,
      environment: environment as SoftwareEnvironment,
      jwksBaseUrl: base,
    });
  } catch (err) {
    if (err instanceof TypeError) throw fail('SANDBOX_TPP_INVALID', err.message);
    throw err;
  }
  const ssa = await tpp.mintSsa();
  const folder = saveTpp(config.derived.dataDir, tpp, ssa);
  return { tpp, folder, ssa };
}

/** Every TPP enrolled in the sandbox directory (none before `sandbox init`). */
export function listTpps(config: Config): SandboxTpp[] {
  return createSandboxStore(config.derived.dataDir).tpps();
}

/** A TPP by software_id or (unique) name, with its folder; SANDBOX_TPP_NOT_FOUND when there is none. */
export function openTpp(config: Config, idOrName: string): TppFolder {
  requireDirectory(config);
  const all = listTpps(config);
  const byId = all.find((t) => t.softwareId === idOrName);
  const byName = all.filter((t) => t.name === idOrName);
  if (!byId && byName.length > 1) {
    throw fail('SANDBOX_TPP_AMBIGUOUS', `${byName.length} TPPs are named "${idOrName}"; use a software_id: ${byName.map((t) => t.softwareId).join(', ')}`);
  }
  const tpp = byId ?? byName[0];
  if (!tpp) {
    const known = all.map((t) => `${t.softwareId} (${t.name})`).join(', ');
    throw fail('SANDBOX_TPP_NOT_FOUND', `no sandbox TPP with software_id or name "${idOrName}"${known ? `; known: ${known}` : '; none is enrolled yet'}`);
  }
  return { tpp, folder: sandboxPaths(config.derived.dataDir).tpp(tpp.softwareId) };
}

/**
 * Moves a key from the TPP's software JWKS to its revoked list (default: the request-signing key)
 * and rewrites the TPP folder.
 */
export function revokeTppKey(config: Config, idOrName: string, kid?: string, what = "revoking a sandbox TPP's key"): TppFolder & { kid: string } {
  requireSandboxMode(config, what);
  const { tpp } = openTpp(config, idOrName);
  const which = kid ?? tpp.signingKey.kid;
  try {
    tpp.revokeKey(which);
  } catch (err) {
    const revoked = tpp.revokedJwks.keys.some((k) => k.kid === which);
    throw fail('SANDBOX_KEY_INVALID', revoked ? `the key ${which} of ${tpp.softwareId} is already revoked` : (err as Error).message, { cause: err });
  }
  const folder = saveTpp(config.derived.dataDir, tpp);
  return { tpp, folder, kid: which };
}

/** Paths of a TPP folder's files, by {@link TPP_FILES} key. */
export function tppFiles(folder: string): { [K in keyof typeof TPP_FILES]: string } {
  return Object.fromEntries(Object.entries(TPP_FILES).map(([k, f]) => [k, join(folder, f)])) as { [K in keyof typeof TPP_FILES]: string };
}

/** A TPP whose key set URLs name another server than the one publishing them now, with both bases; undefined when they agree. */
export function staleBase(place: SandboxPlace, tpp: SandboxTpp): { named: string; current: string; running: boolean } | undefined {
  return tpp.jwksBaseUrl === place.url ? undefined : { named: tpp.jwksBaseUrl, current: place.url, running: place.running };
}

/**
 * The TPP's key set URLs moved to `base`, where this data folder's server publishes them now, a
 * fresh SSA, and with `newKeys` a new signing key and transport certificate.
 */
export async function reissueTpp(
  config: Config,
  base: string,
  idOrName: string,
  opts: { newKeys?: boolean; what?: string } = {},
): Promise<TppFolder & { ssa: string; previousBase: string }> {
  requireSandboxMode(config, opts.what ?? 'reissuing a sandbox TPP');
  const directory = requireDirectory(config);
  const { tpp: old } = openTpp(config, idOrName);
  const tpp = await reissueSandboxTpp(directory, old, { jwksBaseUrl: base, ...(opts.newKeys ? { newKeys: true } : {}) });
  const ssa = await tpp.mintSsa();
  const folder = saveTpp(config.derived.dataDir, tpp, ssa);
  return { tpp, folder, ssa, previousBase: old.jwksBaseUrl };
}

/**
 * Before a TPP talks to a server: when a server runs on this data folder and the TPP's key set
 * URLs name another base (the server moved to another port), move them there and save the TPP.
 * Returns the re-issued TPP and the base it named, or undefined when nothing changed.
 */
export async function rebaseToRunningServer(config: Config, place: SandboxPlace, tpp: SandboxTpp): Promise<{ tpp: SandboxTpp; named: string } | undefined> {
  const stale = staleBase(place, tpp);
  if (!stale?.running || config.server.mode !== 'sandbox') return undefined;
  const rebased = await reissueSandboxTpp(requireDirectory(config), tpp, { jwksBaseUrl: stale.current });
  saveTpp(config.derived.dataDir, rebased, await rebased.mintSsa());
  return { tpp: rebased, named: stale.named };
}

/**
 * Removes the TPP's folder, so its key sets are no longer published. A TPP with a
 * registration.json is refused (SANDBOX_TPP_REGISTERED) unless `force`: its client would stay on the server.
 */
export function deleteTpp(
  config: Config,
  idOrName: string,
  opts: { force?: boolean; what?: string } = {},
): TppFolder & { registration: { client_id?: string; server?: string } | undefined } {
  requireSandboxMode(config, opts.what ?? 'deleting a sandbox TPP');
  const { tpp, folder } = openTpp(config, idOrName);
  const files = tppFiles(folder);
  let registration: { client_id?: string; server?: string } | undefined;
  if (existsSync(files.registration)) {
    try {
      registration = JSON.parse(readFileSync(files.registration, 'utf8')) as { client_id?: string; server?: string };
    } catch {
      registration = {};
    }
  }
  if (registration && !opts.force) {
    throw fail(
      'SANDBOX_TPP_REGISTERED',
      `${tpp.softwareId} (${tpp.name}) is registered as client ${registration.client_id ?? '(unknown)'} at ${registration.server ?? 'a server'}: ` +
        'delete that registration first',
    );
  }
  rmSync(folder, { recursive: true, force: true });
  return { tpp, folder, registration };
}
