/**
 * `npm run demo` (src/cli/demo.ts) as a new user runs it: a child process that starts its own
 * server, walks the whole onboarding flow, stops the server and exits 0.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runNode, STACK_LINE } from '../cli/run-cli.ts';
import { startChildServer } from '../helpers/child-server.ts';

const DEMO = new URL('../../src/cli/demo.ts', import.meta.url).pathname;
import { parseDemoArgs } from '../../src/cli/demo.ts';

const STEPS = [
  '0. Start a server (sandbox mode) in a temporary folder',
  '1. Create the sandbox directory (opendcr sandbox init)',
  '2. Enrol a TPP (opendcr sandbox tpp create --name "Demo TPP" --roles AISP,PISP --redirect-uri https://tpp.example.com/callback)',
  '3. Register (opendcr tpp register --tpp ',
  '4. Obtain a client_credentials access token (opendcr tpp token --tpp ',
  '5. Publish the Account and Transaction and Payment Initiation APIs in front of a sample ASPSP',
  '6. The TPP asks for an account access consent (POST /open-banking/v3.1/aisp/account-access-consents, served by OpenDCR)',
  '7. The PSU authorises it (sandbox user "psu" signs in, chooses two of three accounts, allows)',
  "8. Read the PSU's accounts through the gateway: GET /open-banking/v3.1/aisp/accounts",
  '9. A token without the scope an operation needs: 403',
  '10. The TPP deletes the consent',
  '11. A domestic payment',
  '12. Past the plan (DemoFive: 5 calls a minute): 429 with Retry-After',
  '13. Read the registration (opendcr tpp get --tpp ',
  '14. Update it, narrowing the scope to "openid accounts"',
  '15. Delete it (opendcr tpp delete --tpp ',
  '16. Read it again with the same token: refused with 401',
];

test('npm run demo: every step, decoded claims, curl lines, exit 0 and nothing left behind', async () => {
  const before = new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('opendcr-demo-')));
  const r = await runNode(DEMO, [], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  let at = 0;
  for (const step of STEPS) {
    const i = r.stdout.indexOf(step, at);
    assert.ok(i >= 0, `missing or out of order: ${step}`);
    at = i;
  }
  assert.match(r.stdout, /Software statement claims \(signed by "OpenDCR Sandbox Directory"\):\n {2}\{\n {4}"iss": "OpenDCR Sandbox Directory"/);
  assert.match(r.stdout, /Registration request claims \(signed PS256, kid /);
  assert.match(r.stdout, /POST https:\/\/localhost:\d+\/open-banking\/v3\.3\/register → 201 Created/);
  assert.match(r.stdout, /Access token claims \(bound to the transport certificate by cnf\.x5t#S256\):/);
  // The gateway part: the API imported from its official file, the PSU's accounts, a 403 and a 429.
  assert.match(r.stdout, /"Account and Transaction API Specification" imported: context \/open-banking\/v3\.1\/aisp, 29 operations, roles AISP/);
  assert.match(r.stdout, /Our TPP's subscription: plan DemoFive, UNBLOCKED/);
  assert.match(r.stdout, /GET https:\/\/localhost:\d+\/open-banking\/v3\.1\/aisp\/accounts → 200 OK\n\{\n {2}"Data": \{\n {4}"Account": \[/);
  assert.match(
    r.stdout,
    /What the ASPSP was told[^\n]*\n {2}\{\n {4}"client_id": "[0-9a-f-]{36}",\n {4}"key_manager": "Resident Key Manager",\n {4}"software_id": /,
  );
  assert.match(r.stdout, /"psu": "psu"/);
  // The consent, created by the TPP and authorised by the PSU, is named by the PSU's token.
  assert.match(r.stdout, /account-access-consents → 201 Created\n\{\n {2}"Data": \{\n {4}"ConsentId": "[0-9a-f-]{36}"/);
  assert.match(r.stdout, /^The consent is now Authorised\.$/m);
  assert.match(r.stdout, /"openbanking_intent_id": "[0-9a-f-]{36}"/);
  assert.match(r.stdout, /account-access-consents → 403 Forbidden\n\{\n {2}"Code": "GATEWAY_SCOPE_MISSING"/);
  assert.match(r.stdout, /account-access-consents → 429 Too Many Requests\n\{\n {2}"Code": "GATEWAY_THROTTLED"/);
  assert.match(r.stdout, /^The backend listed exactly the two accounts the PSU chose/m);
  assert.match(r.stdout, /account-access-consents\/[0-9a-f-]{36} → 204 No Content/);
  assert.match(r.stdout, /domestic-payments → 201 Created\n[\s\S]*domestic-payments → 401 Unauthorized/);
  assert.match(r.stdout, /^Retry-After: \d+ s/m);
  assert.match(r.stdout, /PUT \S+ → 200 OK\n[\s\S]*"scope": "openid accounts"/);
  assert.match(r.stdout, /DELETE \S+ → 204 No Content/);
  assert.match(r.stdout, /GET \S+ → 401 Unauthorized\n\{\n {2}"error": "invalid_token"/);
  // The equivalent curl: the TPP folder's transport chain and key, the server CA, the JOSE body from a file.
  assert.match(
    r.stdout,
    /curl -X POST \\\n {7}--cert transport-chain\.pem \\\n {7}--key transport-key\.pem \\\n {7}--cacert \S+ca\.pem \\\n {7}-H 'Content-Type: application\/jose' \\\n {7}--data-binary @request\.jwt \\\n {7}https:\/\/localhost:\d+\/open-banking\/v3\.3\/register\n/,
  );
  assert.match(r.stdout, /--data-urlencode client_assertion@client-assertion\.jwt/);
  assert.match(r.stdout, /Demo complete: every step succeeded\./);
  assert.equal(r.stderr, '');
  assert.doesNotMatch(r.stdout, STACK_LINE);
  const left = readdirSync(tmpdir()).filter((f) => f.startsWith('opendcr-demo-') && !before.has(f));
  assert.deepEqual(left, [], 'the temporary folder is removed');
});

test('npm run demo -- --production-psu: the customer signs in at a throw-away bank identity provider, the journey the same', async () => {
  const r = await runNode(DEMO, ['--production-psu'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /0\. Start a server \(sandbox mode, customers signing in at the bank's identity provider\)/);
  assert.match(r.stdout, /The bank's identity provider \(a throw-away OpenID provider\) is at https:\/\/localhost:\d+: OpenDCR is its client "opendcr-demo"/);
  assert.match(r.stdout, /7\. The PSU authorises it \(the customer "psu" signs in at the bank's identity provider/);
  assert.match(r.stdout, /The customer signed in at the bank's identity provider \(sign-ins there so far: 1\); no password reached OpenDCR\./);
  assert.match(r.stdout, /^The backend listed exactly the two accounts the PSU chose/m);
  assert.match(r.stdout, /domestic-payments → 201 Created\n[\s\S]*domestic-payments → 401 Unauthorized/);
  assert.match(r.stdout, /Demo complete: every step succeeded\./);
  assert.equal(r.stderr, '');
  assert.match(parseUsage(['--production-psu', '--nope']), /usage: npm run demo -- \[--keep\] \[--production-psu\]/);
});

const parseUsage = (argv: string[]) => {
  const out = parseDemoArgs(argv);
  return 'usage' in out ? out.usage : '';
};

test('npm run demo -- --keep: the folder stays, and a printed curl line replays against its server started again', async () => {
  const r = await runNode(DEMO, ['--keep'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const kept = /^Kept (\S+) \(remove it when done\)/m.exec(r.stdout)?.[1];
  assert.ok(kept, r.stdout.slice(-2000));
  try {
    const configFile = join(kept, 'opendcr.toml');
    assert.ok(r.stdout.includes(`npm start -- --config ${configFile}`), 'how to start its server again');
    assert.ok(existsSync(configFile));
    const port = Number(/^port = (\d+)$/m.exec(readFileSync(configFile, 'utf8'))?.[1]);
    // Step 13's curl line: GET with the token of the deleted client, run where the demo says, in a shell.
    const step14 = r.stdout.slice(r.stdout.indexOf('16. Read it again with the same token'));
    const block = /Equivalent curl \(in (\S+)\):\n((?: {2}.*\n)+)/.exec(step14);
    assert.ok(block, step14);
    const [, cwd, text] = block;
    const curl = text!
      .split('\n')
      .map((l) => l.slice(2))
      .join('\n')
      .trim();
    assert.match(curl, /^curl -X GET /);
    assert.ok(existsSync(join(cwd!, 'access-token.txt')) && existsSync(join(cwd!, 'transport-key.pem')), 'the files the curl line reads are kept');
    const server = await startChildServer({ cwd: kept, port, args: ['--config', configFile], env: { OPENDCR_LOG_LEVEL: 'warn' } });
    try {
      const replay = spawnSync('sh', ['-c', `${curl} -s -w '\\n%{http_code}'`], { cwd, encoding: 'utf8' });
      assert.equal(replay.error, undefined, "curl is needed to replay the demo's curl lines");
      assert.equal(replay.status, 0, replay.stderr);
      const [body, status] = replay.stdout.split('\n');
      assert.equal(status, '401');
      assert.equal((JSON.parse(body!) as { error: string }).error, 'invalid_token');
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(kept, { recursive: true, force: true });
  }
});
