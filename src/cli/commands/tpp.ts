/**
 * `opendcr tpp register | token | get | update | delete`: the TPP side of the Open Banking DCR
 * API for a sandbox TPP, over mutual TLS with its transport certificate; `tpp consent …` and
 * `tpp authorize` (./tpp-consent.ts) add the consent journey. Readable output by default (decoded
 * SSA, request claims, response bodies); `--json` prints only the server's JSON. A rejected
 * request exits 1 with the server's error and error_description.
 */
import { Command, Option } from 'commander';
import type { Config } from '../../config/schema.ts';
import { DCR_VERSIONS } from '../../config/schema.ts';
import {
  AUTH_METHODS,
  clientIdOf,
  deleteClient,
  expectStatus,
  prepareKeySets,
  readClient,
  register,
  requestToken,
  updateClient,
  withSession,
} from '../tpp-client.ts';
import type { AuthMethod, Exchange, RegistrationRequest, TppSession } from '../tpp-client.ts';
import { abbreviateJwts, formatExchange, jwtClaims, pretty, section } from '../tpp-output.ts';
import { CliError, printJson } from '../shared.ts';
import { addConsentCommands, authOf, finishAuthorization } from './tpp-consent.ts';
import { requireSandboxMode } from '../../sandbox/service.ts';

interface CommonOptions {
  tpp: string;
  server?: string;
  ca?: string;
  version?: string;
  auth?: AuthMethod;
  json?: boolean;
}
interface ManageOptions extends CommonOptions {
  clientId?: string;
  accessToken?: string;
  scope?: string;
}

const out = (text: string): void => {
  process.stdout.write(text);
};
// Notes go to stderr, so --json output stays JSON.
const note = (text: string): void => {
  process.stderr.write(`opendcr: note: ${text}\n`);
};

/** Options every tpp subcommand takes. */
function common(cmd: Command): Command {
  return cmd
    .requiredOption('--tpp <id-or-name>', 'software_id or name of the sandbox TPP')
    .option('--server <url>', "server base URL (default: the registration's server, else this configuration's base URL)")
    .option('--ca <file>', "CA certificate (PEM) for the server's TLS certificate (default: {data_dir}/pki/ca.pem when present)")
    .addOption(
      new Option('--version <version>', "OB DCR API version (default: the registration's, else [open_banking.dcr] default_version)").choices(DCR_VERSIONS),
    )
    .addOption(new Option('--auth <method>', "token endpoint authentication (default: the registration's, else private_key_jwt)").choices(AUTH_METHODS))
    .option('--json', 'print only the JSON response');
}

const managing = (cmd: Command): Command => common(cmd).option('--client-id <id>', "client_id to manage (default: the one in the TPP's registration.json)");

/** register and update mint a software statement from the sandbox directory: never in production mode. */
function mintingConfig(getConfig: () => Config, sub: string): Config {
  const config = getConfig();
  requireSandboxMode(config, `\`opendcr tpp ${sub}\` (it mints a sandbox software statement)`);
  return config;
}

/** Prints the response (JSON mode) and throws the server's error unless the status is `expected`. */
function finish(opts: CommonOptions, ex: Exchange, expected: number, what: string): void {
  if (opts.json && (ex.status !== expected || ex.body !== undefined)) printJson(ex.body ?? null);
  expectStatus(ex, expected, what);
}

function showRequest(req: RegistrationRequest, kid: string): string {
  return (
    section(`Software statement (SSA) claims, signed by the directory "${String(req.ssaClaims['iss'])}":`, pretty(req.ssaClaims)) +
    section(`Registration request claims, signed PS256 with the TPP's key ${kid}:`, pretty(abbreviateJwts(req.claims)))
  );
}

/** A client_credentials access token for managing the registration: --access-token, else a fresh one. */
async function managementToken(s: TppSession, opts: ManageOptions, clientId: string): Promise<string> {
  if (opts.accessToken) return opts.accessToken;
  const t = await requestToken(s, { clientId, auth: authOf(s, opts) });
  if (opts.json && t.exchange.status !== 200) printJson(t.exchange.body ?? null);
  expectStatus(t.exchange, 200, 'the client_credentials token request');
  if (!opts.json) out(`Obtained a client_credentials access token (${authOf(s, opts)}${t.form['scope'] ? `, scope "${t.form['scope']}"` : ''})\n`);
  return t.accessToken!;
}

export function tppCommand(getConfig: () => Config): Command {
  const cmd = new Command('tpp').description(
    'Act as a sandbox TPP (over mTLS): register with the DCR API, get a token, read, update, delete; create, authorise and delete consents',
  );

  common(cmd.command('register'))
    .description('Register the TPP: a signed registration request with a fresh SSA, POSTed over mTLS; saves registration.json on 201')
    .option('--scope <scope>', "requested scope (default: openid plus the scopes of the TPP's roles)")
    .action((opts: CommonOptions & { scope?: string }) =>
      withSession(mintingConfig(getConfig, 'register'), opts, async (s) => {
        await prepareKeySets(getConfig(), s, note);
        const auth = opts.auth ?? 'private_key_jwt';
        const { request, exchange } = await register(s, { auth, ...(opts.scope ? { scope: opts.scope } : {}) });
        if (!opts.json) out(showRequest(request, s.tpp.signingKey.kid) + formatExchange(exchange));
        finish(opts, exchange, 201, 'the registration');
        if (!opts.json) out(`Saved ${s.files.registration} (client_id ${s.registration!.client_id}, ${auth})\n`);
      }),
    );

  managing(cmd.command('token'))
    .description('Obtain a client_credentials access token for the registered client (private_key_jwt or tls_client_auth, over mTLS)')
    .option('--scope <scope>', 'requested scope (default: the registered scopes except openid)')
    .option(
      '--code <code-or-url>',
      'exchange the code of the authorization `tpp authorize --print-url` started (the code, or the whole callback URL); saves psu-access-token.txt',
    )
    .action((opts: ManageOptions & { code?: string }) =>
      withSession(getConfig(), opts, async (s) => {
        if (opts.code !== undefined) {
          if (opts.scope !== undefined || opts.clientId !== undefined)
            throw new CliError('--code finishes the waiting authorization, whose scope and client are set: leave out --scope and --client-id', 2);
          return finishAuthorization(s, opts.code, authOf(s, opts), opts.json);
        }
        const clientId = clientIdOf(s, opts.clientId);
        const t = await requestToken(s, { clientId, auth: authOf(s, opts), ...(opts.scope ? { scope: opts.scope } : {}) });
        finish(opts, t.exchange, 200, 'the token request');
        if (opts.json) return;
        out(formatExchange(t.exchange));
        const claims = t.accessToken ? jwtClaims(t.accessToken) : undefined;
        out(claims ? section('Access token claims:', pretty(claims)) : 'The access token is opaque (no claims to show).\n');
        return undefined;
      }),
    );

  managing(cmd.command('get'))
    .description('Read the registration (GET /register/{ClientId}) with a client_credentials access token')
    .option('--access-token <token>', 'use this access token instead of obtaining one')
    .action((opts: ManageOptions) =>
      withSession(getConfig(), opts, async (s) => {
        const clientId = clientIdOf(s, opts.clientId);
        const ex = await readClient(s, clientId, await managementToken(s, opts, clientId));
        if (!opts.json) out(formatExchange(ex));
        finish(opts, ex, 200, 'the read request');
      }),
    );

  managing(cmd.command('update'))
    .description('Update the registration (PUT /register/{ClientId}) with a freshly signed full request')
    .option('--access-token <token>', 'use this access token instead of obtaining one')
    .option('--scope <scope>', "requested scope (default: openid plus the scopes of the TPP's roles)")
    .action((opts: ManageOptions) =>
      withSession(mintingConfig(getConfig, 'update'), opts, async (s) => {
        const clientId = clientIdOf(s, opts.clientId);
        await prepareKeySets(getConfig(), s, note);
        const token = await managementToken(s, opts, clientId);
        const { request, exchange } = await updateClient(s, clientId, token, { auth: authOf(s, opts), ...(opts.scope ? { scope: opts.scope } : {}) });
        if (!opts.json) out(showRequest(request, s.tpp.signingKey.kid) + formatExchange(exchange));
        finish(opts, exchange, 200, 'the update');
      }),
    );

  managing(cmd.command('delete'))
    .description('Delete the registration (DELETE /register/{ClientId}); removes registration.json on 204')
    .option('--access-token <token>', 'use this access token instead of obtaining one')
    .action((opts: ManageOptions) =>
      withSession(getConfig(), opts, async (s) => {
        const clientId = clientIdOf(s, opts.clientId);
        const hadFile = s.registration?.client_id === clientId;
        const ex = await deleteClient(s, clientId, await managementToken(s, opts, clientId));
        if (opts.json && ex.status === 204) return printJson({ client_id: clientId, deleted: true });
        if (!opts.json) out(formatExchange(ex));
        finish(opts, ex, 204, 'the deletion');
        out(`Deleted client ${clientId}${hadFile ? `; removed ${s.files.registration}` : ''}\n`);
        return undefined;
      }),
    );
  addConsentCommands(cmd, getConfig);
  return cmd;
}
