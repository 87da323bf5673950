/**
 * The sandbox directory and its TPPs as the CLI (and `npm run demo`) manage them: every
 * function here is what one `opendcr sandbox …` command does, returning what it did so the
 * command and the demo can print it their own way. Files follow the layout in sandbox/store.ts.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { createSandboxDirectory, loadSandboxDirectory } from '../sandbox/directory.ts';
import type { SandboxDirectory } from '../sandbox/directory.ts';
import { createSandboxTpp, reissueSandboxTpp } from '../sandbox/tpp.ts';
import type { SandboxRole, SandboxTpp, SoftwareEnvironment } from '../sandbox/tpp.ts';
import { createSandboxStore, saveDirectory, saveTpp, sandboxPaths } from '../sandbox/store.ts';
import { createTruststore, TruststoreError } from '../tls/truststore.ts';
import type { TrustedCa } from '../tls/truststore.ts';
import { CliError } from './shared.ts';
import { sandboxBase } from './server-url.ts';

export const SANDBOX_ROLES: readonly SandboxRole[] = ['AISP', 'PISP', 'CBPII'];

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

/** Production mode disables every sandbox feature that issues identities (issue 4 §6). */
export function requireSandboxMode(config: Config, what: string): void {
  if (config.server.mode !== 'sandbox') {
    throw new CliError(`${what} is disabled in production mode ([server] mode = "production" in ${config.source ?? 'the configuration'}): `
      + 'sandbox identities are for test systems only; TPPs of a production bank enrol with the Open Banking Directory');
  }
}

/**
 * `${server}/sandbox`: where this data folder's server publishes the sandbox key sets
 * (sandbox/routes.ts) — the running server's URL when one runs, else the configured base URL.
 */
export const sandboxBaseUrl = (config: Config): string => sandboxBase(config).url;

/** The directory JWKS URL an OpenDCR server uses for SSAs from this sandbox. */
export const sandboxJwksUrl = (config: Config): string => `${sandboxBaseUrl(config)}/directory/jwks`;

export interface InitResult {
  readonly directory: SandboxDirectory;
  readonly folder: string;
  /** The root and issuing CA as added to the trust store. */
  readonly trusted: readonly TrustedCa[];
  /** TPP folders removed because `--force` replaced the directory that issued them. */
  readonly removedTpps: number;
  /** What a server that does not share this data folder needs in its opendcr.toml. */
  readonly configLines: string;
}

/**
 * `opendcr sandbox init`: a new directory in {data_dir}/sandbox, with its CAs in the trust store.
 * `force` replaces an existing directory, its TPPs (their certificates chain to the old CAs) and
 * the old CAs' trust store entries.
 */
export async function initSandbox(config: Config, opts: { name?: string; force?: boolean } = {}): Promise<InitResult> {
  requireSandboxMode(config, '`opendcr sandbox init`');
  const { dataDir, truststoreDir } = config.derived;
  const paths = sandboxPaths(dataDir);
  let removedTpps = 0;
  const truststore = withTruststore(() => createTruststore(truststoreDir));
  if (existsSync(paths.directory)) {
    if (!opts.force) {
      throw new CliError(`a sandbox directory already exists in ${paths.root}; use --force to replace it (its TPPs are removed too)`);
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
    if (err instanceof TypeError) throw new CliError(`--name: ${err.message}`, 2);
    throw err;
  }
  saveDirectory(dataDir, directory);
  const tag = (ca: { x509: { fingerprint256: string } }) => ca.x509.fingerprint256.replaceAll(':', '').slice(0, 16).toLowerCase();
  const trusted = withTruststore(() => [
    truststore.add(directory.rootCa.certPem, `sandbox-directory-root-ca-${tag(directory.rootCa)}`),
    truststore.add(directory.issuingCa.certPem, `sandbox-directory-issuing-ca-${tag(directory.issuingCa)}`),
  ]);
  return { directory, folder: paths.root, trusted, removedTpps, configLines: serverConfigLines(config, directory) };
}

/** The opendcr.toml lines for another server to trust this sandbox directory. */
export function serverConfigLines(config: Config, directory: SandboxDirectory): string {
  const issuers = [...new Set([...config.open_banking.dcr.regulatory_issuers, directory.issuer])];
  return [
    '[oauth]',
    `allowed_outbound_hosts = ${JSON.stringify([new URL(sandboxBaseUrl(config)).host])}`,
    '',
    '[open_banking.dcr]',
    `jwks_url_sandbox = ${JSON.stringify(sandboxJwksUrl(config))}`,
    `regulatory_issuers = ${JSON.stringify(issuers).replaceAll('","', '", "')}`,
  ].join('\n');
}

function readDirectory(file: string): SandboxDirectory | undefined {
  try {
    return loadSandboxDirectory(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return undefined; // unreadable: --force replaces it anyway
  }
}

function withTruststore<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TruststoreError) throw new CliError(err.message);
    throw err;
  }
}

/** The directory, or a CliError telling the user to run `sandbox init`. */
export function requireDirectory(config: Config): SandboxDirectory {
  const store = createSandboxStore(config.derived.dataDir);
  let directory: SandboxDirectory | undefined;
  try {
    directory = store.directory();
  } catch (err) {
    throw new CliError(`${store.paths.directory} is not a readable sandbox directory (${(err as Error).message}); run \`opendcr sandbox init --force\``);
  }
  if (!directory) throw new CliError(`there is no sandbox directory in ${store.paths.root} yet: run \`opendcr sandbox init\` first`);
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

/** Parses `--roles AISP,PISP` (any case, commas or spaces). */
export function parseRoles(value: string): SandboxRole[] {
  const roles = [...new Set(value.split(/[\s,]+/).filter(Boolean).map((r) => r.toUpperCase()))];
  const bad = roles.filter((r) => !SANDBOX_ROLES.includes(r as SandboxRole));
  if (roles.length === 0 || bad.length > 0) {
    throw new CliError(`--roles must list ${SANDBOX_ROLES.join(', ')} separated by commas${bad.length ? `; unknown: ${bad.join(', ')}` : ''}`, 2);
  }
  return roles as SandboxRole[];
}

/**
 * `opendcr sandbox tpp create`: enrols a TPP in the directory, mints its first SSA and writes
 * its folder. Its key sets are published by the server at `${baseUrl}/sandbox`.
 */
export async function createTpp(config: Config, input: CreateTppInput): Promise<TppFolder & { ssa: string }> {
  requireSandboxMode(config, '`opendcr sandbox tpp create`');
  const directory = requireDirectory(config);
  const environment = input.environment ?? 'sandbox';
  if (environment !== 'sandbox' && environment !== 'production') throw new CliError('--environment must be sandbox or production', 2);
  const clash = listTpps(config).find((t) => t.name === input.name);
  if (clash) throw new CliError(`a TPP named "${input.name}" already exists (software_id ${clash.softwareId}); choose another name`);
  let tpp: SandboxTpp;
  try {
    tpp = await createSandboxTpp(directory, {
      name: input.name,
      roles: parseRoles(input.roles.join(',')),
      redirectUris: input.redirectUris,
      environment: environment as SoftwareEnvironment,
      jwksBaseUrl: sandboxBaseUrl(config),
    });
  } catch (err) {
    if (err instanceof TypeError) throw new CliError(err.message, 2);
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

/** A TPP by software_id or (unique) name, with its folder; CliError when there is none. */
export function openTpp(config: Config, idOrName: string): TppFolder {
  requireDirectory(config);
  const all = listTpps(config);
  const byId = all.find((t) => t.softwareId === idOrName);
  const byName = all.filter((t) => t.name === idOrName);
  if (!byId && byName.length > 1) {
    throw new CliError(`${byName.length} TPPs are named "${idOrName}"; use a software_id: ${byName.map((t) => t.softwareId).join(', ')}`);
  }
  const tpp = byId ?? byName[0];
  if (!tpp) {
    const known = all.map((t) => `${t.softwareId} (${t.name})`).join(', ');
    throw new CliError(`no sandbox TPP with software_id or name "${idOrName}"${known ? `; known: ${known}` : '; create one with `opendcr sandbox tpp create`'}`);
  }
  return { tpp, folder: sandboxPaths(config.derived.dataDir).tpp(tpp.softwareId) };
}

/**
 * `opendcr sandbox tpp revoke-key`: moves a key from the TPP's software JWKS to its revoked
 * list (default: the request-signing key) and rewrites the TPP folder.
 */
export function revokeTppKey(config: Config, idOrName: string, kid?: string): TppFolder & { kid: string } {
  requireSandboxMode(config, '`opendcr sandbox tpp revoke-key`');
  const { tpp } = openTpp(config, idOrName);
  const which = kid ?? tpp.signingKey.kid;
  try {
    tpp.revokeKey(which);
  } catch (err) {
    const revoked = tpp.revokedJwks.keys.some((k) => k.kid === which);
    throw new CliError(revoked ? `the key ${which} of ${tpp.softwareId} is already revoked` : (err as Error).message);
  }
  const folder = saveTpp(config.derived.dataDir, tpp);
  return { tpp, folder, kid: which };
}

/** Paths of a TPP folder's files, by {@link TPP_FILES} key. */
export function tppFiles(folder: string): { [K in keyof typeof TPP_FILES]: string } {
  return Object.fromEntries(Object.entries(TPP_FILES).map(([k, f]) => [k, join(folder, f)])) as { [K in keyof typeof TPP_FILES]: string };
}

/** A TPP whose key set URLs name another server than the one publishing them now, with both bases; undefined when they agree. */
export function staleBase(config: Config, tpp: SandboxTpp): { named: string; current: string; running: boolean } | undefined {
  const base = sandboxBase(config);
  return tpp.jwksBaseUrl === base.url ? undefined : { named: tpp.jwksBaseUrl, current: base.url, running: base.running };
}

/**
 * `opendcr sandbox tpp reissue`: the TPP's key set URLs moved to where this data folder's server
 * publishes them now, a fresh SSA, and with `newKeys` a new signing key and transport certificate.
 */
export async function reissueTpp(config: Config, idOrName: string, opts: { newKeys?: boolean } = {}): Promise<TppFolder & { ssa: string; previousBase: string }> {
  requireSandboxMode(config, '`opendcr sandbox tpp reissue`');
  const directory = requireDirectory(config);
  const { tpp: old } = openTpp(config, idOrName);
  const tpp = await reissueSandboxTpp(directory, old, { jwksBaseUrl: sandboxBaseUrl(config), ...(opts.newKeys ? { newKeys: true } : {}) });
  const ssa = await tpp.mintSsa();
  const folder = saveTpp(config.derived.dataDir, tpp, ssa);
  return { tpp, folder, ssa, previousBase: old.jwksBaseUrl };
}

/**
 * Before a TPP talks to a server: when a server runs on this data folder and the TPP's key set
 * URLs name another base (the server moved to another port), move them there and save the TPP.
 * Returns the re-issued TPP and the base it named, or undefined when nothing changed.
 */
export async function rebaseToRunningServer(config: Config, tpp: SandboxTpp): Promise<{ tpp: SandboxTpp; named: string } | undefined> {
  const stale = staleBase(config, tpp);
  if (!stale?.running || config.server.mode !== 'sandbox') return undefined;
  const rebased = await reissueSandboxTpp(requireDirectory(config), tpp, { jwksBaseUrl: stale.current });
  saveTpp(config.derived.dataDir, rebased, await rebased.mintSsa());
  return { tpp: rebased, named: stale.named };
}

/**
 * `opendcr sandbox tpp delete`: removes the TPP's folder, so its key sets are no longer published.
 * A TPP with a registration.json is refused unless `force`: its client would stay on the server.
 */
export function deleteTpp(config: Config, idOrName: string, opts: { force?: boolean } = {}): TppFolder & { registration: { client_id?: string; server?: string } | undefined } {
  requireSandboxMode(config, '`opendcr sandbox tpp delete`');
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
    throw new CliError(`${tpp.softwareId} (${tpp.name}) is registered as client ${registration.client_id ?? '(unknown)'} at ${registration.server ?? 'a server'}: `
      + `delete that registration first (opendcr tpp delete --tpp ${tpp.softwareId}), or pass --force to forget it`);
  }
  rmSync(folder, { recursive: true, force: true });
  return { tpp, folder, registration };
}
