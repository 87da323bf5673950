/**
 * Shared by the packaging tests: the repository's paths, a free port, and the check of a
 * deployed opendcr.toml as `opendcr config check` runs it inside the container, with the files
 * the container would have mounted laid out under a temporary root.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspectConfig } from '../../src/config/load.ts';
import { checkConfig } from '../../src/preflight.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
export const repoPath = (...parts: string[]): string => join(REPO, ...parts);

/** A port nothing listens on right now (bound and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface DeployedConfigCheck {
  /** What inspectConfig and checkConfig report as stopping the server. */
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
  /** The configuration as loaded, for further assertions (paths under `root`). */
  readonly config: ReturnType<typeof inspectConfig>['config'];
  readonly root: string;
}

/**
 * Checks `toml` as the server would inside its container: `files` are the files mounted or built
 * into the container (absolute container path → content), `dirs` the folders the image makes,
 * `env` the container's environment. Every absolute container path in the TOML that starts with
 * one of `prefixes` is moved under a temporary root where those files are laid out.
 */
export async function checkDeployedConfig(opts: {
  toml: string;
  files: ReadonlyMap<string, string>;
  dirs: readonly string[];
  env: NodeJS.ProcessEnv;
  prefixes: readonly string[];
}): Promise<DeployedConfigCheck> {
  const root = mkdtempSync(join(tmpdir(), 'opendcr-deploy-'));
  for (const [path, content] of opts.files) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  for (const d of opts.dirs) mkdirSync(join(root, d), { recursive: true });
  let text = opts.toml;
  for (const p of opts.prefixes) text = text.replaceAll(`"${p}`, `"${root}${p}`);
  const file = join(root, 'etc', 'opendcr', 'opendcr.toml');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  const { config, problems } = inspectConfig({ path: file, env: opts.env, cwd: root });
  const checked = config ? await checkConfig(config) : { problems: [], warnings: [] };
  return { problems: [...problems, ...checked.problems], warnings: checked.warnings, config, root };
}
