/**
 * `npm run demo` / `opendcr demo`: the whole onboarding flow on one machine, in a temporary
 * folder. Starts a server (sandbox mode, free port), then — calling the same functions as the
 * `opendcr sandbox` and `opendcr tpp` commands — creates a directory and a TPP, registers,
 * obtains a client_credentials token, reads, updates and deletes the registration, and shows
 * that the old token is refused afterwards. Each step prints what was sent and received and the
 * equivalent curl command. Exits 0 when every step did what it should.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { createTpp, initSandbox, sandboxJwksUrl } from './sandbox-ops.ts';
import { deleteClient, expectStatus, openSession, readClient, register, requestToken, updateClient } from './tpp-client.ts';
import type { Exchange } from './tpp-client.ts';
import { abbreviateJwts, curlBearer, curlJose, curlToken, formatExchange, jwtClaims, pretty, section } from './tpp-output.ts';
import type { CurlContext } from './tpp-output.ts';
import { CliError } from './shared.ts';

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
const READY_TIMEOUT_MS = 20_000;

export interface DemoOptions {
  /** Where the demo writes; default stdout. */
  readonly write?: (text: string) => void;
  /** Keep the temporary folder (configuration, data, TPP files) so the curl lines can be replayed. */
  readonly keep?: boolean;
}

/** Runs the demo; resolves with the exit code (0 ok, 1 a step failed). Never throws. */
export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  const write = opts.write ?? ((t: string) => void process.stdout.write(t));
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-demo-'));
  let server: DemoServer | undefined;
  let step = 'start the server';
  let tppFolder: string | undefined;
  let tppId: string | undefined;
  try {
    const port = await freePort();
    const configFile = join(dir, 'opendcr.toml');
    writeFileSync(configFile, [
      '[server]', 'mode = "sandbox"', `port = ${port}`, `data_dir = ${JSON.stringify(join(dir, 'data'))}`, '', '[log]', 'level = "warn"', '',
    ].join('\n'));
    write(heading('0. Start a server (sandbox mode) in a temporary folder'));
    server = await startDemoServer(configFile, port);
    // No environment overrides: the demo's file alone decides, whatever the caller's shell has set.
    const config = loadConfig({ path: configFile, env: {} });
    write(`Server ready at ${config.derived.baseUrl} (data in ${config.derived.dataDir}, config ${configFile})\n`);
    await runSteps(config, write, (s) => { step = s; }, (id, folder) => { tppId = id; tppFolder = folder; });
    write(`\n${'='.repeat(72)}\nDemo complete: every step succeeded.\n`);
    if (opts.keep) {
      write([
        '',
        `Kept ${dir} (remove it when done).`,
        `To replay the curl lines, start its server again (same port ${port}, same data):`,
        `  npm start -- --config ${configFile}`,
        'and run them in the TPP folder:',
        `  cd ${tppFolder ?? join(dir, 'data')}`,
        'Registration requests and client assertions carry a single-use jti, so those two are refused',
        'when sent again; sign fresh ones with the command line:',
        `  npm run cli -- --config ${configFile} tpp register --tpp ${tppId ?? '<software_id>'}`,
        '',
      ].join('\n'));
    }
    return 0;
  } catch (err) {
    const message = err instanceof CliError ? err.message : (err as Error).stack ?? String(err);
    process.stderr.write(`opendcr demo: step "${step}" failed: ${message}\n`);
    if (server) process.stderr.write(`server output:\n${server.output().slice(-4000)}\n`);
    if (opts.keep) process.stderr.write(`opendcr demo: kept ${dir}\n`);
    return 1;
  } finally {
    await server?.stop();
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
}

const heading = (title: string): string => `\n${'='.repeat(72)}\n${title}\n${'='.repeat(72)}\n`;

async function runSteps(config: Config, write: (t: string) => void, at: (step: string) => void, enrolled: (softwareId: string, folder: string) => void): Promise<void> {
  const begin = (title: string) => {
    at(title);
    write(heading(title));
  };

  begin('1. Create the sandbox directory (opendcr sandbox init)');
  const init = await initSandbox(config);
  write([
    `Directory "${init.directory.issuer}": root CA, issuing CA, SSA signing key (kid ${init.directory.kid})`,
    `Directory JWKS: ${sandboxJwksUrl(config)}`,
    ...init.trusted.map((ca) => `Trusted for transport certificates: ${ca.subject}`),
    '',
  ].join('\n'));
  // The server reloads its trust store after a 100 ms quiet period; give it that before any mTLS.
  await sleep(300);

  begin('2. Enrol a TPP (opendcr sandbox tpp create --name "Demo TPP" --roles AISP,PISP --redirect-uri https://tpp.example.com/callback)');
  const created = await createTpp(config, { name: 'Demo TPP', roles: ['AISP', 'PISP'], redirectUris: ['https://tpp.example.com/callback'] });
  const { tpp, folder } = created;
  enrolled(tpp.softwareId, folder);
  write([
    `org_id ${tpp.orgId}, software_id ${tpp.softwareId}, signing kid ${tpp.signingKey.kid}`,
    `Transport certificate subject: ${tpp.transport.x509.subject.split('\n').join(', ')}`,
    `Software JWKS: ${tpp.ssaClaims.software_jwks_endpoint}`,
    `Folder: ${folder}`,
    '',
  ].join('\n'));

  const session = openSession(config, { tpp: tpp.softwareId });
  const curl: CurlContext = { session, cwd: folder };
  const file = (name: string, content: string) => {
    const path = join(folder, name);
    writeFileSync(path, content);
    return path;
  };
  const showCurl = (text: string) => write(section(`Equivalent curl (in ${folder}):`, text));
  try {
    begin(`3. Register (opendcr tpp register --tpp ${tpp.softwareId})`);
    const reg = await register(session, { auth: 'private_key_jwt' });
    write(section(`Software statement claims (signed by "${init.directory.issuer}"):`, pretty(reg.request.ssaClaims)));
    write(section(`Registration request claims (signed PS256, kid ${tpp.signingKey.kid}):`, pretty(abbreviateJwts(reg.request.claims))));
    write(formatExchange(reg.exchange));
    showCurl(curlJose(curl, reg.exchange, file('request.jwt', reg.request.jwt)));
    expectStatus(reg.exchange, 201, 'the registration');
    const clientId = session.registration!.client_id;

    begin(`4. Obtain a client_credentials access token (opendcr tpp token --tpp ${tpp.softwareId})`);
    const token = await requestToken(session, { clientId, auth: 'private_key_jwt' });
    write(formatExchange(token.exchange));
    expectStatus(token.exchange, 200, 'the token request');
    const accessToken = token.accessToken!;
    const claims = jwtClaims(accessToken);
    if (claims) write(section('Access token claims (bound to the transport certificate by cnf.x5t#S256):', pretty(claims)));
    showCurl(curlToken(curl, token.exchange, token.form, token.assertion ? file('client-assertion.jwt', token.assertion) : undefined));
    const tokenFile = file('access-token.txt', accessToken);

    begin(`5. Read the registration (opendcr tpp get --tpp ${tpp.softwareId})`);
    const read = await readClient(session, clientId, accessToken);
    showExchange(write, showCurl, read, curlBearer(curl, read, tokenFile));
    expectStatus(read, 200, 'the read request');

    begin(`6. Update it, narrowing the scope to "openid accounts" (opendcr tpp update --tpp ${tpp.softwareId} --scope "openid accounts")`);
    const upd = await updateClient(session, clientId, accessToken, { auth: 'private_key_jwt', scope: 'openid accounts' });
    write(section('Update request claims (a fresh SSA, jti and signature; client_id added):', pretty(abbreviateJwts(upd.request.claims))));
    showExchange(write, showCurl, upd.exchange, curlJose(curl, upd.exchange, file('update-request.jwt', upd.request.jwt), tokenFile));
    expectStatus(upd.exchange, 200, 'the update');

    begin(`7. Delete it (opendcr tpp delete --tpp ${tpp.softwareId})`);
    const del = await deleteClient(session, clientId, accessToken);
    showExchange(write, showCurl, del, curlBearer(curl, del, tokenFile));
    expectStatus(del, 204, 'the deletion');

    begin('8. Read it again with the same token: refused with 401');
    const gone = await readClient(session, clientId, accessToken);
    showExchange(write, showCurl, gone, curlBearer(curl, gone, tokenFile));
    if (gone.status !== 401) throw new CliError(`expected 401 after the deletion, got ${gone.status}`);
  } finally {
    await session.close();
  }
}

function showExchange(write: (t: string) => void, showCurl: (t: string) => void, ex: Exchange, curl: string): void {
  write(formatExchange(ex));
  showCurl(curl);
}

interface DemoServer {
  output(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** `node src/main.ts --config FILE` as a child process, once GET /ready answers 200. */
async function startDemoServer(configFile: string, port: number): Promise<DemoServer> {
  // Only the file configures the demo server: drop OPENDCR_* settings of the caller's shell.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPENDCR_')));
  const child = spawn(process.execPath, [MAIN, '--config', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => { output += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { output += c.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server: DemoServer = { output: () => output, stop: () => stop(child, exited) };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new CliError(`the server exited with status ${child.exitCode}:\n${output}`);
    if (await ready(port)) return server;
    await sleep(100);
  }
  await server.stop();
  throw new CliError(`the server did not become ready within ${READY_TIMEOUT_MS / 1000} s:\n${output}`);
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

// The server's CA does not exist until it has started, so readiness is checked without it.
function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/ready', rejectUnauthorized: false, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** `npm run demo -- [--keep]`: the demo's own arguments; a usage error exits 2. */
export function parseDemoArgs(argv: string[]): { keep: boolean } | { usage: string } {
  try {
    const { values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: { keep: { type: 'boolean' } } });
    return { keep: values.keep === true };
  } catch (err) {
    return { usage: `${(err as Error).message.split('\n')[0]}; usage: npm run demo -- [--keep]` };
  }
}

if (import.meta.main) {
  const args = parseDemoArgs(process.argv.slice(2));
  if ('usage' in args) {
    process.stderr.write(`opendcr demo: ${args.usage}\n`);
    process.exitCode = 2;
  } else {
    process.exitCode = await runDemo({ keep: args.keep });
  }
}
