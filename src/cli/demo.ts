/**
 * `npm run demo` / `opendcr demo`: the whole onboarding flow on one machine, in a temporary
 * folder. Starts a server (sandbox mode, free port), then — calling the same functions as the
 * `opendcr sandbox` and `opendcr tpp` commands — creates a directory and a TPP, registers,
 * obtains a client_credentials token, reads, updates and deletes the registration, and shows
 * that the old token is refused afterwards. Each step prints what was sent and received and the
 * equivalent curl command. Exits 0 when every step did what it should.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { createTpp, initSandbox, sandboxJwksUrl } from '../sandbox/service.ts';
import { sandboxBase } from './server-url.ts';
import { deleteClient, expectStatus, openSession, readClient, register, requestToken, send, updateClient } from './tpp-client.ts';
import type { Exchange } from './tpp-client.ts';
import { abbreviateJwts, curlBearer, curlJose, curlToken, formatExchange, jwtClaims, pretty, section } from './tpp-output.ts';
import type { CurlContext } from './tpp-output.ts';
import { CliError } from './shared.ts';
import { randomBytes, randomUUID } from 'node:crypto';
import { relative } from 'node:path';
import { ADMIN, DEVPORTAL, PUBLISHER, adminCall, documentForm, expectAnswer, withAdmin } from './admin-client.ts';
import { authorizeAsPsu } from './psu-flow.ts';
import { DEMO_IDP_SCA, startDemoIdp, type DemoIdp } from '../oauth/demo-idp.ts';
import { startSampleAspsp } from './sample-aspsp.ts';
import { sandboxAccountSource } from '../consent/psu-accounts.ts';
import type { TppSession } from './tpp-client.ts';

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
const READY_TIMEOUT_MS = 20_000;

export interface DemoOptions {
  /** Where the demo writes; default stdout. */
  readonly write?: (text: string) => void;
  /** Keep the temporary folder (configuration, data, TPP files) so the curl lines can be replayed. */
  readonly keep?: boolean;
  /**
   * The PSU signs in at a bank's own identity provider ([psu.identity_provider]), here a
   * throw-away OpenID provider the demo starts, instead of the sandbox's form.
   */
  readonly productionPsu?: boolean;
}

const DEMO_IDP_CLIENT = { client_id: 'opendcr-demo', client_secret: randomBytes(24).toString('base64url') };

/** Runs the demo; resolves with the exit code (0 ok, 1 a step failed). Never throws. */
export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  const write = opts.write ?? ((t: string) => void process.stdout.write(t));
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-demo-'));
  let server: DemoServer | undefined;
  let step = 'start the server';
  let tppFolder: string | undefined;
  let tppId: string | undefined;
  let idp: DemoIdp | undefined;
  try {
    const port = await freePort();
    const idpPort = opts.productionPsu ? await freePort() : undefined;
    const configFile = join(dir, 'opendcr.toml');
    const secretFile = join(dir, 'idp-client-secret');
    if (idpPort) writeFileSync(secretFile, DEMO_IDP_CLIENT.client_secret, { mode: 0o600 });
    writeFileSync(
      configFile,
      [
        '[server]',
        'mode = "sandbox"',
        `port = ${port}`,
        `data_dir = ${JSON.stringify(join(dir, 'data'))}`,
        '',
        '[log]',
        'level = "warn"',
        '',
        ...(idpPort
          ? [
              '[oauth]',
              `allowed_outbound_hosts = ["localhost:${idpPort}"]`,
              '',
              "# The bank's own sign-in for its customers (here a throw-away OpenID provider).",
              '[psu.identity_provider]',
              `issuer = "https://localhost:${idpPort}"`,
              `client_id = "${DEMO_IDP_CLIENT.client_id}"`,
              `client_secret_file = ${JSON.stringify(secretFile)}`,
              `acr_values = ["${DEMO_IDP_SCA}"]`,
              '',
            ]
          : []),
      ].join('\n'),
    );
    write(heading(`0. Start a server (sandbox mode${idpPort ? ", customers signing in at the bank's identity provider" : ''}) in a temporary folder`));
    server = await startDemoServer(configFile, port);
    // No environment overrides: the demo's file alone decides, whatever the caller's shell has set.
    const config = loadConfig({ path: configFile, env: {} });
    write(`Server ready at ${config.derived.baseUrl} (data in ${config.derived.dataDir}, config ${configFile})\n`);
    if (idpPort) {
      // The provider serves the server's own sandbox certificate (localhost), which the server's outbound fetch trusts.
      const pki = join(config.derived.dataDir, 'pki');
      const psu = config.sandbox.users[0]!;
      idp = await startDemoIdp({
        port: idpPort,
        certPem: readFileSync(join(pki, 'server.pem'), 'utf8'),
        keyPem: readFileSync(join(pki, 'server-key.pem'), 'utf8'),
        opendcr: config.derived.baseUrl,
        client: DEMO_IDP_CLIENT,
        users: { [psu.username]: psu.password },
      });
      write(
        [
          `The bank's identity provider (a throw-away OpenID provider) is at ${idp.issuer}: OpenDCR is its client "${DEMO_IDP_CLIENT.client_id}",`,
          `redirect URI ${config.derived.baseUrl}/psu/sign-in/callback; the customer "${psu.username}" signs in there (acr ${DEMO_IDP_SCA}).`,
          'A bank connects its own the same way: [psu.identity_provider] in the configuration (README, docs/consents.md).',
          '',
        ].join('\n'),
      );
    }
    await runSteps(
      config,
      write,
      (s) => {
        step = s;
      },
      (id, folder) => {
        tppId = id;
        tppFolder = folder;
      },
      idp ? [idp.issuer] : [],
      () => idp?.signIns.length,
    );
    write(`\n${'='.repeat(72)}\nDemo complete: every step succeeded.\n`);
    if (opts.keep) {
      write(
        [
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
        ].join('\n'),
      );
    }
    return 0;
  } catch (err) {
    const message = err instanceof CliError ? err.message : ((err as Error).stack ?? String(err));
    process.stderr.write(`opendcr demo: step "${step}" failed: ${message}\n`);
    if (server) process.stderr.write(`server output:\n${server.output().slice(-4000)}\n`);
    if (opts.keep) process.stderr.write(`opendcr demo: kept ${dir}\n`);
    return 1;
  } finally {
    await idp?.close();
    await server?.stop();
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
}

const heading = (title: string): string => `\n${'='.repeat(72)}\n${title}\n${'='.repeat(72)}\n`;

async function runSteps(
  config: Config,
  write: (t: string) => void,
  at: (step: string) => void,
  enrolled: (softwareId: string, folder: string) => void,
  /** Origins the PSU's sign-in also goes through (the bank's identity provider), and its count of sign-ins. */
  signInOrigins: readonly string[],
  bankSignIns: () => number | undefined,
): Promise<void> {
  const begin = (title: string) => {
    at(title);
    write(heading(title));
  };

  begin('1. Create the sandbox directory (opendcr sandbox init)');
  const base = sandboxBase(config).url;
  const init = await initSandbox(config, base);
  write(
    [
      `Directory "${init.directory.issuer}": root CA, issuing CA, SSA signing key (kid ${init.directory.kid})`,
      `Directory JWKS: ${sandboxJwksUrl(base)}`,
      ...init.trusted.map((ca) => `Trusted for transport certificates: ${ca.subject}`),
      '',
    ].join('\n'),
  );
  // The server reloads its trust store after a 100 ms quiet period; give it that before any mTLS.
  await sleep(300);

  begin('2. Enrol a TPP (opendcr sandbox tpp create --name "Demo TPP" --roles AISP,PISP --redirect-uri https://tpp.example.com/callback)');
  const created = await createTpp(config, base, { name: 'Demo TPP', roles: ['AISP', 'PISP'], redirectUris: ['https://tpp.example.com/callback'] });
  const { tpp, folder } = created;
  enrolled(tpp.softwareId, folder);
  write(
    [
      `org_id ${tpp.orgId}, software_id ${tpp.softwareId}, signing kid ${tpp.signingKey.kid}`,
      `Transport certificate subject: ${tpp.transport.x509.subject.split('\n').join(', ')}`,
      `Software JWKS: ${tpp.ssaClaims.software_jwks_endpoint}`,
      `Folder: ${folder}`,
      '',
    ].join('\n'),
  );

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

    await gatewaySteps(config, session, clientId, { begin, write, file, showCurl, curl, signInOrigins, bankSignIns });

    begin(`13. Read the registration (opendcr tpp get --tpp ${tpp.softwareId})`);
    const read = await readClient(session, clientId, accessToken);
    showExchange(write, showCurl, read, curlBearer(curl, read, tokenFile));
    expectStatus(read, 200, 'the read request');

    begin(`14. Update it, narrowing the scope to "openid accounts" (opendcr tpp update --tpp ${tpp.softwareId} --scope "openid accounts")`);
    const upd = await updateClient(session, clientId, accessToken, { auth: 'private_key_jwt', scope: 'openid accounts' });
    write(section('Update request claims (a fresh SSA, jti and signature; client_id added):', pretty(abbreviateJwts(upd.request.claims))));
    showExchange(write, showCurl, upd.exchange, curlJose(curl, upd.exchange, file('update-request.jwt', upd.request.jwt), tokenFile));
    expectStatus(upd.exchange, 200, 'the update');

    begin(`15. Delete it (opendcr tpp delete --tpp ${tpp.softwareId})`);
    const del = await deleteClient(session, clientId, accessToken);
    showExchange(write, showCurl, del, curlBearer(curl, del, tokenFile));
    expectStatus(del, 204, 'the deletion');

    begin('16. Read it again with the same token: refused with 401');
    const gone = await readClient(session, clientId, accessToken);
    showExchange(write, showCurl, gone, curlBearer(curl, gone, tokenFile));
    if (gone.status !== 401) throw new CliError(`expected 401 after the deletion, got ${gone.status}`);
  } finally {
    await session.close();
  }
}

interface StepTools {
  begin(title: string): void;
  write(text: string): void;
  file(name: string, content: string): string;
  showCurl(text: string): void;
  curl: CurlContext;
  /** Origins the PSU's sign-in also goes through (the bank's identity provider), none with the sandbox's form. */
  signInOrigins: readonly string[];
  /** How many times a customer has signed in at the bank's identity provider (undefined without one). */
  bankSignIns: () => number | undefined;
}

const ACCOUNTS_API = fileURLToPath(new URL('../../specs/ob-read-write-openapi/v3.1.11/account-info-openapi.yaml', import.meta.url));
const CONTEXT = '/open-banking/v3.1/aisp';
const PAYMENTS_API = fileURLToPath(new URL('../../specs/ob-read-write-openapi/v3.1.11/payment-initiation-openapi.yaml', import.meta.url));
const PAYMENTS = '/open-banking/v3.1/pisp';

/**
 * The gateway part: the OB Account and Transaction API and the Payment Initiation API published
 * from their official OpenAPI files in front of a sample ASPSP backend, their consents served
 * here, the accounts API on a plan of 5 calls a minute; an account access consent the PSU
 * authorises for two of three accounts; exactly those read through the gateway; a 403 for a scope
 * the token lacks; the consent deleted and its token refused; a payment consent used by one order
 * and the second refused; a 429 past the plan.
 */
async function gatewaySteps(config: Config, session: TppSession, clientId: string, t: StepTools): Promise<void> {
  const psuAccounts = sandboxAccountSource(config);
  const aspsp = await startSampleAspsp(config.gateway.identity_header, (psu) => psuAccounts.list(psu));
  try {
    t.begin(
      `5. Publish the Account and Transaction and Payment Initiation APIs in front of a sample ASPSP, their consents served here (opendcr plan add DemoFive --requests 5 --per min; opendcr api import ${relative(process.cwd(), ACCOUNTS_API)} --backend ${aspsp.url} --serve-consents --plans DemoFive; opendcr api import ${relative(process.cwd(), PAYMENTS_API)} --backend ${aspsp.paymentsUrl} --serve-consents; opendcr api publish ID --subscribe-existing)`,
    );
    await withAdmin(config, {}, async (s) => {
      const plan = {
        policyName: 'DemoFive',
        description: "Five calls a minute (the demo's plan)",
        defaultLimit: { requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 5 } },
      };
      expectAnswer({}, await adminCall(s, 'POST', `${ADMIN}/throttling/policies/subscription`, { json: plan }), 201, 'the plan');
      const form = documentForm(ACCOUNTS_API, 'file', {
        endpointConfig: { production_endpoints: { url: aspsp.url } },
        policies: ['DemoFive'],
        serveConsents: true,
      });
      const imported = expectAnswer({}, await adminCall(s, 'POST', `${PUBLISHER}/apis/import-openapi`, { form }), 201, 'the import') as {
        id: string;
        name: string;
        context: string;
        operations: unknown[];
        requiredRoles: string[];
      };
      const published = expectAnswer(
        {},
        await adminCall(s, 'POST', `${PUBLISHER}/apis/change-lifecycle?action=Publish&subscribeExisting=true&apiId=${imported.id}`),
        200,
        'publishing',
      ) as { subscribed: number };
      // The payments API beside it, on the default plan, its consents served here too.
      const payForm = documentForm(PAYMENTS_API, 'file', { endpointConfig: { production_endpoints: { url: aspsp.paymentsUrl } }, serveConsents: true });
      const pay = expectAnswer({}, await adminCall(s, 'POST', `${PUBLISHER}/apis/import-openapi`, { form: payForm }), 201, 'the payments import') as {
        id: string;
        name: string;
      };
      expectAnswer(
        {},
        await adminCall(s, 'POST', `${PUBLISHER}/apis/change-lifecycle?action=Publish&subscribeExisting=true&apiId=${pay.id}`),
        200,
        'publishing',
      );
      const subs = expectAnswer(
        {},
        await adminCall(s, 'GET', `${DEVPORTAL}/subscriptions?applicationId=${encodeURIComponent(clientId)}`),
        200,
        'the subscriptions',
      ) as { list: Array<{ apiId: string; throttlingPolicy: string; status: string }> };
      const accountsSub = subs.list.find((x) => x.apiId === imported.id);
      t.write(
        [
          `"${imported.name}" imported: context ${imported.context}, ${imported.operations.length} operations, roles ${imported.requiredRoles.join(', ')}, backend ${aspsp.url}`,
          `Published; registered TPPs holding a required role subscribed: ${published.subscribed}`,
          `"${pay.name}" imported and published beside it: context ${PAYMENTS}, backend ${aspsp.paymentsUrl}`,
          `Our TPP's subscription: plan ${accountsSub?.throttlingPolicy ?? '-'}, ${accountsSub?.status ?? 'none'}`,
          '',
        ].join('\n'),
      );
    });

    t.begin(
      `6. The TPP asks for an account access consent (POST ${CONTEXT}/account-access-consents, served by OpenDCR), with a client credentials token for "accounts"`,
    );
    const accountsToken = await requestToken(session, { clientId, auth: 'private_key_jwt', scope: 'accounts' });
    expectStatus(accountsToken.exchange, 200, 'the token request');
    const intent = await send(session, 'POST', `${session.server}${CONTEXT}/account-access-consents`, {
      headers: { authorization: `Bearer ${accountsToken.accessToken!}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() },
      body: JSON.stringify({
        Data: {
          Permissions: ['ReadAccountsDetail', 'ReadBalances', 'ReadTransactionsDetail', 'ReadTransactionsCredits', 'ReadTransactionsDebits'],
          ExpirationDateTime: new Date(Date.now() + 90 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, '+00:00'),
        },
        Risk: {},
      }),
    });
    t.write(formatExchange(intent));
    expectStatus(intent, 201, 'the consent request');
    const consentId = String((intent.body as { Data?: { ConsentId?: unknown } }).Data?.ConsentId);

    t.begin(
      `7. The PSU authorises it (${t.signInOrigins.length ? 'the customer "psu" signs in at the bank\'s identity provider' : 'sandbox user "psu" signs in'}, chooses two of three accounts, allows); the TPP exchanges the code for a PSU token`,
    );
    const psu = config.sandbox.users[0]!;
    const consent = await authorizeAsPsu(
      session,
      clientId,
      { username: psu.username, password: psu.password },
      'openid accounts',
      consentId,
      (offered) => offered.slice(0, 2),
      'private_key_jwt',
      t.signInOrigins,
    );
    t.write(`Authorization request: ${consent.authorizationUrl.origin}${consent.authorizationUrl.pathname}?client_id=…&request=<signed request object>\n`);
    const atBank = t.bankSignIns();
    if (atBank !== undefined)
      t.write(`The customer signed in at the bank's identity provider (sign-ins there so far: ${atBank}); no password reached OpenDCR.\n`);
    t.write(formatExchange(consent.exchange));
    const psuClaims = jwtClaims(consent.accessToken);
    if (psuClaims) t.write(section('PSU access token claims:', pretty(psuClaims)));
    const psuTokenFile = t.file('psu-access-token.txt', consent.accessToken);

    const read = await send(session, 'GET', `${session.server}${CONTEXT}/account-access-consents/${encodeURIComponent(consentId)}`, {
      headers: { authorization: `Bearer ${accountsToken.accessToken!}`, 'x-fapi-interaction-id': randomUUID() },
    });
    expectStatus(read, 200, 'reading the consent');
    t.write(`The consent is now ${String((read.body as { Data?: { Status?: unknown } }).Data?.Status)}.\n`);

    t.begin(`8. Read the PSU's accounts through the gateway: GET ${CONTEXT}/accounts`);
    const accounts = await send(session, 'GET', `${session.server}${CONTEXT}/accounts`, {
      headers: { authorization: `Bearer ${consent.accessToken}`, 'x-fapi-interaction-id': randomUUID() },
    });
    t.write(formatExchange(accounts));
    expectStatus(accounts, 200, 'the accounts call');
    const listed = ((accounts.body as { Data?: { Account?: unknown[] } }).Data?.Account ?? []).length;
    if (listed !== 2) throw new CliError(`expected the two accounts the PSU chose, got ${listed}`);
    t.write('The backend listed exactly the two accounts the PSU chose: the gateway told it the consent.\n');
    const identity = aspsp.lastIdentity();
    if (identity)
      t.write(
        section(
          `What the ASPSP was told (the gateway's ${config.gateway.identity_header} header, an ES256 JWT checked with ${session.server}/gateway/jwks.json):`,
          pretty(identity),
        ),
      );
    t.showCurl(curlBearer(t.curl, accounts, psuTokenFile));

    t.begin('9. A token without the scope an operation needs: 403 (a client credentials token for "payments" creating an account access consent)');
    const payments = await requestToken(session, { clientId, auth: 'private_key_jwt', scope: 'payments' });
    expectStatus(payments.exchange, 200, 'the token request');
    const refused = await send(session, 'POST', `${session.server}${CONTEXT}/account-access-consents`, {
      headers: { authorization: `Bearer ${payments.accessToken!}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() },
      body: JSON.stringify({ Data: { Permissions: ['ReadAccountsBasic'] }, Risk: {} }),
    });
    t.write(formatExchange(refused));
    if (refused.status !== 403) throw new CliError(`expected 403 for the missing scope, got ${refused.status}`);

    t.begin(`10. The TPP deletes the consent (DELETE ${CONTEXT}/account-access-consents/{ConsentId}); the PSU's token is refused at once`);
    const deleted = await send(session, 'DELETE', `${session.server}${CONTEXT}/account-access-consents/${encodeURIComponent(consentId)}`, {
      headers: { authorization: `Bearer ${accountsToken.accessToken!}`, 'x-fapi-interaction-id': randomUUID() },
    });
    t.write(formatExchange(deleted));
    expectStatus(deleted, 204, 'deleting the consent');
    const afterDelete = await send(session, 'GET', `${session.server}${CONTEXT}/accounts`, {
      headers: { authorization: `Bearer ${consent.accessToken}`, 'x-fapi-interaction-id': randomUUID() },
    });
    t.write(formatExchange(afterDelete));
    if (afterDelete.status !== 401) throw new CliError(`expected 401 for the deleted consent's token, got ${afterDelete.status}`);

    t.begin(
      `11. A domestic payment: the TPP's consent (POST ${PAYMENTS}/domestic-payment-consents), the PSU's authorisation, one order accepted, a second refused`,
    );
    const paymentBody = {
      Initiation: {
        InstructionIdentification: 'DEMO-1',
        EndToEndIdentification: 'DEMO-E2E-1',
        InstructedAmount: { Amount: '25.00', Currency: 'GBP' },
        CreditorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '08080021325698', Name: 'ACME Inc' },
        RemittanceInformation: { Reference: 'DEMO-INVOICE-1' },
      },
    };
    const risk = { PaymentContextCode: 'EcommerceGoods' };
    const payHeaders = (token: string) => ({
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'x-fapi-interaction-id': randomUUID(),
      'x-idempotency-key': randomUUID(),
      'x-jws-signature': 'not-verified-by-this-api',
    });
    const paymentConsent = await send(session, 'POST', `${session.server}${PAYMENTS}/domestic-payment-consents`, {
      headers: payHeaders(payments.accessToken!),
      body: JSON.stringify({ Data: paymentBody, Risk: risk }),
    });
    t.write(formatExchange(paymentConsent));
    expectStatus(paymentConsent, 201, 'the payment consent');
    const paymentConsentId = String((paymentConsent.body as { Data?: { ConsentId?: unknown } }).Data?.ConsentId);
    const payer = await authorizeAsPsu(
      session,
      clientId,
      { username: psu.username, password: psu.password },
      'openid payments',
      paymentConsentId,
      undefined,
      'private_key_jwt',
      t.signInOrigins,
    );
    t.write('The PSU chose the account to pay from and allowed; the TPP holds a PSU token for this one payment (no refresh token).\n');
    const orderBody = JSON.stringify({ Data: { ConsentId: paymentConsentId, ...paymentBody }, Risk: risk });
    const first = await send(session, 'POST', `${session.server}${PAYMENTS}/domestic-payments`, { headers: payHeaders(payer.accessToken), body: orderBody });
    t.write(formatExchange(first));
    expectStatus(first, 201, 'the payment order');
    const second = await send(session, 'POST', `${session.server}${PAYMENTS}/domestic-payments`, { headers: payHeaders(payer.accessToken), body: orderBody });
    t.write(formatExchange(second));
    if (second.status !== 401) throw new CliError(`expected the second order on a consumed consent to be refused (401), got ${second.status}`);
    t.write('The consent is consumed by its order: its token stopped, and no second payment reached the bank.\n');

    t.begin('12. Past the plan (DemoFive: 5 calls a minute): 429 with Retry-After');
    let last: Exchange | undefined;
    let calls = 4;
    while ((last === undefined || last.status !== 429) && calls < 10) {
      last = await send(session, 'POST', `${session.server}${CONTEXT}/account-access-consents`, {
        headers: { authorization: `Bearer ${accountsToken.accessToken!}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() },
        body: JSON.stringify({ Data: { Permissions: ['ReadAccountsBasic'] }, Risk: {} }),
      });
      calls += 1;
      t.write(`call ${calls}: ${last.status}\n`);
    }
    t.write(formatExchange(last!));
    if (last?.status !== 429) throw new CliError(`expected 429 past the plan, got ${last?.status} after ${calls} calls`);
    t.write(`Retry-After: ${String(last.headers?.['retry-after'] ?? '?')} s (the plan's window is counted across every worker and host)\n`);
  } finally {
    await aspsp.close();
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
  child.stdout!.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    output += c.toString();
  });
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

/** `npm run demo -- [--keep] [--production-psu]`: the demo's own arguments; a usage error exits 2. */
export function parseDemoArgs(argv: string[]): { keep: boolean; productionPsu: boolean } | { usage: string } {
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { keep: { type: 'boolean' }, 'production-psu': { type: 'boolean' } },
    });
    return { keep: values.keep === true, productionPsu: values['production-psu'] === true };
  } catch (err) {
    return { usage: `${(err as Error).message.split('\n')[0]}; usage: npm run demo -- [--keep] [--production-psu]` };
  }
}

if (import.meta.main) {
  const args = parseDemoArgs(process.argv.slice(2));
  if ('usage' in args) {
    process.stderr.write(`opendcr demo: ${args.usage}\n`);
    process.exitCode = 2;
  } else {
    process.exitCode = await runDemo({ keep: args.keep, productionPsu: args.productionPsu });
  }
}
