/**
 * `opendcr sandbox init | tpp create | tpp list | tpp revoke-key | tpp reissue | tpp delete`: a
 * local stand-in for the Open Banking Directory (CAs, SSA signing key, TPP identities) in
 * {data_dir}/sandbox. The server of that data folder publishes its key sets at /sandbox in sandbox
 * mode; the URLs in TPPs and SSAs name that server as it runs ({data_dir}/server.json), else its
 * configured base URL. Production mode refuses every command that issues or changes an identity.
 */
import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { Config } from '../../config/schema.ts';
import { DEFAULT_DIRECTORY_NAME } from '../../sandbox/directory.ts';
import type { SandboxTpp } from '../../sandbox/tpp.ts';
import {
  createTpp,
  deleteTpp,
  initSandbox,
  listTpps,
  reissueTpp,
  requireDirectory,
  requireSandboxMode,
  revokeTppKey,
  sandboxJwksUrl,
  staleBase,
  tppFiles,
  TPP_FILES,
} from '../../sandbox/service.ts';
import { AppError } from '../../errors/app-error.ts';
import { sandboxBase } from '../server-url.ts';
import { CliError, printJson } from '../shared.ts';

const out = (text: string): void => {
  process.stdout.write(text);
};

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function tppJson(tpp: SandboxTpp, folder?: string): Record<string, unknown> {
  return {
    name: tpp.name,
    org_id: tpp.orgId,
    software_id: tpp.softwareId,
    roles: tpp.roles,
    environment: tpp.environment,
    redirect_uris: tpp.redirectUris,
    signing_kid: tpp.signingKey.kid,
    software_jwks_endpoint: tpp.ssaClaims.software_jwks_endpoint,
    ...(folder ? { folder, files: tppFiles(folder) } : {}),
  };
}

export function sandboxCommand(getConfig: () => Config): Command {
  const cmd = new Command('sandbox').description('A local Open Banking test directory: CAs, SSA signing key and TPP identities (sandbox mode only)');

  cmd
    .command('init')
    .description('Create the sandbox directory (root CA, issuing CA, SSA signing key and JWKS) and trust its CAs for transport certificates')
    .option('--name <name>', 'directory name: the SSA issuer (iss) and the CA names', DEFAULT_DIRECTORY_NAME)
    .option('--force', 'replace an existing directory (its TPPs are removed)')
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; force?: boolean; json?: boolean }) => {
      const config = getConfig();
      const base = sandboxBase(config);
      const r = await initSandbox(config, base.url, { name: opts.name, what: '`opendcr sandbox init`', ...(opts.force ? { force: true } : {}) });
      const d = r.directory;
      if (opts.json) {
        return printJson({
          issuer: d.issuer,
          kid: d.kid,
          folder: r.folder,
          directory_jwks_url: sandboxJwksUrl(base.url),
          truststore: r.trusted.map((ca) => ({ name: ca.name, subject: ca.subject, fingerprint256: ca.fingerprint256 })),
          removed_tpps: r.removedTpps,
          config: r.configLines,
        });
      }
      out(
        [
          `Created the sandbox directory "${d.issuer}" in ${r.folder}`,
          ...(r.removedTpps ? [`  replaced the previous directory and removed its ${r.removedTpps} TPP(s)`] : []),
          `  SSA signing key   kid ${d.kid} (PS256)`,
          `  directory JWKS    ${sandboxJwksUrl(base.url)}`,
          `                    (${base.running ? 'served by the server running on this data folder' : 'no server runs on this data folder now: its configured base URL'})`,
          ...r.trusted.map((ca) => `  trusted CA        ${ca.subject}  (${config.derived.truststoreDir}/${ca.name})`),
          '',
          `A server in sandbox mode using this data folder (${config.derived.dataDir}) trusts the directory at once.`,
          'Another OpenDCR server needs these lines in its opendcr.toml (and the two CA files above in its trust store):',
          '',
          r.configLines,
          '',
          'Next: opendcr sandbox tpp create --name "My TPP" --roles AISP,PISP --redirect-uri https://tpp.example.com/callback',
          '',
        ].join('\n'),
      );
      return undefined;
    });

  const tpp = cmd.command('tpp').description('Sandbox TPP identities: organisation, software, transport certificate, signing key, SSA');

  tpp
    .command('create')
    .description('Enrol a TPP: org_id, software_id, transport certificate from the issuing CA, signing key, software JWKS and an SSA, written to a folder')
    .requiredOption('--name <name>', 'legal name (certificate O, org_name, software_client_name)')
    .requiredOption('--roles <roles>', 'PSD2 roles, comma-separated: AISP,PISP,CBPII')
    .requiredOption('--redirect-uri <url>', 'redirect URI (https); repeat for more', collect)
    .addOption(new Option('--environment <env>', 'SSA software_environment').choices(['sandbox', 'production']).default('sandbox'))
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; roles: string; redirectUri: string[]; environment: string; json?: boolean }) => {
      const config = getConfig();
      const { tpp: t, folder } = await createTpp(
        config,
        sandboxBase(config).url,
        { name: opts.name, roles: [opts.roles], redirectUris: opts.redirectUri, environment: opts.environment },
        '`opendcr sandbox tpp create`',
      );
      if (opts.json) return printJson(tppJson(t, folder));
      out(
        [
          `Created TPP "${t.name}"`,
          `  org_id        ${t.orgId}`,
          `  software_id   ${t.softwareId}`,
          `  roles         ${t.roles.join(', ')}`,
          `  signing kid   ${t.signingKey.kid}`,
          `  software JWKS ${t.ssaClaims.software_jwks_endpoint}`,
          `  folder        ${folder}`,
          `    ${TPP_FILES.transportCert}, ${TPP_FILES.transportChain}, ${TPP_FILES.transportKey}   transport certificate (mTLS), its chain and key`,
          `    ${TPP_FILES.signingKey}, ${TPP_FILES.softwareJwks}   request-signing key and the software JWKS`,
          `    ${TPP_FILES.ssa}   software statement (SSA) signed by the directory`,
          '',
          `Next: opendcr tpp register --tpp ${t.softwareId}`,
          '',
        ].join('\n'),
      );
      return undefined;
    });

  tpp
    .command('list')
    .description('List the TPPs enrolled in the sandbox directory')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const config = getConfig();
      requireDirectory(config);
      const tpps = listTpps(config);
      const place = sandboxBase(config);
      if (opts.json) return printJson(tpps.map((t) => tppJson(t)));
      if (tpps.length === 0) out('No sandbox TPPs yet: opendcr sandbox tpp create --help\n');
      for (const t of tpps) {
        const stale = staleBase(place, t);
        const note = stale
          ? `  (key set URLs at ${stale.named}, not the ${stale.running ? 'running server' : 'configured base URL'}: opendcr sandbox tpp reissue --tpp ${t.softwareId})`
          : '';
        out(`${t.softwareId}  ${t.orgId}  ${t.roles.join(',').padEnd(15)} ${t.name}${note}\n`);
      }
      return undefined;
    });

  tpp
    .command('reissue')
    .description(
      "Re-issue a TPP's software statement with its key set URLs at this data folder's server as it runs now (after a port change); --new-keys also replaces the signing key and transport certificate",
    )
    .requiredOption('--tpp <id-or-name>', 'software_id or name of the TPP')
    .option('--new-keys', 'a new request-signing key and transport certificate (same subject); revoked keys stay revoked')
    .option('--json', 'print JSON')
    .action(async (opts: { tpp: string; newKeys?: boolean; json?: boolean }) => {
      const config = getConfig();
      const r = await reissueTpp(config, sandboxBase(config).url, opts.tpp, {
        what: '`opendcr sandbox tpp reissue`',
        ...(opts.newKeys ? { newKeys: true } : {}),
      });
      if (opts.json) return printJson(tppJson(r.tpp, r.folder));
      const t = r.tpp;
      out(
        [
          `Re-issued TPP "${t.name}" (${t.softwareId})`,
          `  software JWKS ${t.ssaClaims.software_jwks_endpoint}${r.previousBase === t.jwksBaseUrl ? '' : `  (was under ${r.previousBase})`}`,
          ...(opts.newKeys
            ? [`  signing kid   ${t.signingKey.kid} (new)`, `  transport     a new certificate for ${t.transport.x509.subject.split('\n').join(', ')}`]
            : []),
          `  ${TPP_FILES.ssa}       a new software statement in ${r.folder}`,
          '',
          existsSync(tppFiles(r.folder).registration)
            ? `Its registration still names the old values: opendcr tpp update --tpp ${t.softwareId} (or register again)\n`
            : `Next: opendcr tpp register --tpp ${t.softwareId}\n`,
        ].join('\n'),
      );
      return undefined;
    });

  tpp
    .command('delete')
    .description('Remove a TPP and its folder (its key sets are no longer published); a registered TPP needs --force')
    .requiredOption('--tpp <id-or-name>', 'software_id or name of the TPP')
    .option('--force', 'delete it even though it is registered (the client stays on the server)')
    .option('--json', 'print JSON')
    .action((opts: { tpp: string; force?: boolean; json?: boolean }) => {
      const config = getConfig();
      requireSandboxMode(config, '`opendcr sandbox tpp delete`');
      let r: ReturnType<typeof deleteTpp>;
      try {
        r = deleteTpp(config, opts.tpp, { ...(opts.force ? { force: true } : {}) });
      } catch (err) {
        // What to do about it, in the command line's words.
        if (err instanceof AppError && err.code === 'SANDBOX_TPP_REGISTERED')
          throw new CliError(`${err.message} (opendcr tpp delete --tpp ${opts.tpp}), or pass --force to forget it`);
        throw err;
      }
      if (opts.json)
        return printJson({
          software_id: r.tpp.softwareId,
          name: r.tpp.name,
          folder: r.folder,
          deleted: true,
          ...(r.registration ? { registered_client_id: r.registration.client_id ?? null } : {}),
        });
      out(`Deleted TPP ${r.tpp.softwareId} (${r.tpp.name}) and its folder ${r.folder}\n`);
      if (r.registration) out(`  its client ${r.registration.client_id ?? ''} stays registered at ${r.registration.server ?? 'the server'}\n`);
      return undefined;
    });

  tpp
    .command('revoke-key')
    .description("Move a TPP key to its software's revoked JWKS, so registrations signed with it are refused")
    .requiredOption('--tpp <id-or-name>', 'software_id or name of the TPP')
    .option('--kid <kid>', 'kid of the key to revoke (default: the request-signing key)')
    .option('--json', 'print JSON')
    .action((opts: { tpp: string; kid?: string; json?: boolean }) => {
      const r = revokeTppKey(getConfig(), opts.tpp, opts.kid, '`opendcr sandbox tpp revoke-key`');
      if (opts.json)
        return printJson({ software_id: r.tpp.softwareId, kid: r.kid, revoked: true, revoked_jwks_endpoint: r.tpp.ssaClaims.software_jwks_revoked_endpoint });
      out(`Revoked key ${r.kid} of ${r.tpp.softwareId} (${r.tpp.name})\n  listed at ${r.tpp.ssaClaims.software_jwks_revoked_endpoint}\n`);
      if (r.kid === r.tpp.signingKey.kid) out('  this was the request-signing key: registration requests it signs are now refused\n');
      return undefined;
    });
  return cmd;
}
