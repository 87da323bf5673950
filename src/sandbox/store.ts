/**
 * The sandbox directory and its TPPs on disk, under {data_dir}/sandbox/, shared by the CLI
 * (which creates them) and the server (which publishes their key sets). Layout:
 *
 *   sandbox/directory.json                 the directory, private keys included (0600)
 *   sandbox/directory-root-ca.pem          trust anchor of transport certificates
 *   sandbox/directory-issuing-ca.pem
 *   sandbox/tpps/<software_id>/tpp.json    the TPP, private keys included (0600)
 *   sandbox/tpps/<software_id>/transport.pem, transport-key.pem (0600), transport-chain.pem
 *   sandbox/tpps/<software_id>/signing-key.pem (0600), software.jwks.json, ssa.jwt
 *   sandbox/tpps/<software_id>/registration.json   written by `opendcr tpp register`
 *
 * Reads are cached by file modification time, so a TPP created or revoked by the CLI shows up
 * in a running server at once without re-reading the disk on every request.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSandboxDirectory, type SandboxDirectory } from './directory.ts';
import { loadSandboxTpp, type SandboxTpp } from './tpp.ts';

export interface SandboxPaths {
  root: string;
  directory: string;
  tpps: string;
  tpp(softwareId: string): string;
}

export function sandboxPaths(dataDir: string): SandboxPaths {
  const root = join(dataDir, 'sandbox');
  return {
    root,
    directory: join(root, 'directory.json'),
    tpps: join(root, 'tpps'),
    tpp: (softwareId) => join(root, 'tpps', softwareId),
  };
}

/** Atomic write (temp file + rename) with the given mode. */
export function writeFileAtomic(path: string, content: string, mode = 0o644): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, path);
}

/** Writes the directory and its CA certificates. */
export function saveDirectory(dataDir: string, directory: SandboxDirectory): void {
  const p = sandboxPaths(dataDir);
  mkdirSync(p.tpps, { recursive: true, mode: 0o700 });
  writeFileAtomic(p.directory, `${JSON.stringify(directory.toJSON(), null, 2)}\n`, 0o600);
  writeFileAtomic(join(p.root, 'directory-root-ca.pem'), directory.rootCa.certPem);
  writeFileAtomic(join(p.root, 'directory-issuing-ca.pem'), directory.issuingCa.certPem);
}

/** Writes a TPP's folder: its JSON and the PEM/JWKS/SSA files a TPP developer uses directly. */
export function saveTpp(dataDir: string, tpp: SandboxTpp, ssa?: string): string {
  const dir = sandboxPaths(dataDir).tpp(tpp.softwareId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(join(dir, 'tpp.json'), `${JSON.stringify(tpp.toJSON(), null, 2)}\n`, 0o600);
  writeFileAtomic(join(dir, 'transport.pem'), tpp.transport.certPem);
  writeFileAtomic(join(dir, 'transport-chain.pem'), tpp.transport.chainPem);
  writeFileAtomic(join(dir, 'transport-key.pem'), tpp.transport.keyPem, 0o600);
  writeFileAtomic(join(dir, 'signing-key.pem'), tpp.signingKey.key.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
  writeFileAtomic(join(dir, 'software.jwks.json'), `${JSON.stringify(tpp.softwareJwks, null, 2)}\n`);
  if (ssa !== undefined) writeFileAtomic(join(dir, 'ssa.jwt'), `${ssa}\n`);
  return dir;
}

const mtime = (path: string): number => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};

export interface SandboxStore {
  readonly paths: SandboxPaths;
  /** The directory, or undefined before `opendcr sandbox init`. */
  directory(): SandboxDirectory | undefined;
  /** Every enrolled TPP (unreadable folders are skipped). */
  tpps(): SandboxTpp[];
  /** A TPP by software_id, or by name when unique. */
  findTpp(idOrName: string): SandboxTpp | undefined;
}

/** A cached view of {data_dir}/sandbox for the server and the CLI. */
export function createSandboxStore(dataDir: string, opts: { onInvalid?: (path: string, err: unknown) => void } = {}): SandboxStore {
  const paths = sandboxPaths(dataDir);
  let dirCache: { mtime: number; value: SandboxDirectory } | undefined;
  const tppCache = new Map<string, { mtime: number; value: SandboxTpp }>();

  const directory = (): SandboxDirectory | undefined => {
    const m = mtime(paths.directory);
    if (m < 0) return undefined;
    if (dirCache?.mtime !== m) {
      dirCache = { mtime: m, value: loadSandboxDirectory(JSON.parse(readFileSync(paths.directory, 'utf8'))) };
      tppCache.clear();
    }
    return dirCache.value;
  };

  const tpps = (): SandboxTpp[] => {
    const dir = directory();
    if (!dir || !existsSync(paths.tpps)) return [];
    const out: SandboxTpp[] = [];
    for (const id of readdirSync(paths.tpps)) {
      const file = join(paths.tpps, id, 'tpp.json');
      const m = mtime(file);
      if (m < 0) continue;
      let entry = tppCache.get(id);
      if (entry?.mtime !== m) {
        try {
          entry = { mtime: m, value: loadSandboxTpp(dir, JSON.parse(readFileSync(file, 'utf8'))) };
          tppCache.set(id, entry);
        } catch (err) {
          opts.onInvalid?.(file, err);
          continue;
        }
      }
      out.push(entry.value);
    }
    return out;
  };

  return {
    paths,
    directory,
    tpps,
    findTpp(idOrName) {
      const all = tpps();
      const byId = all.find((t) => t.softwareId === idOrName);
      if (byId) return byId;
      const byName = all.filter((t) => t.name === idOrName);
      return byName.length === 1 ? byName[0] : undefined;
    },
  };
}
