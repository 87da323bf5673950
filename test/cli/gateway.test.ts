/**
 * `opendcr api | plan | subscription` (src/cli/commands/api.ts, plan.ts, subscription.ts) against
 * one real server of the same data folder, which they find on their own (server.json, the sandbox
 * CA) and call as [super_admin] through the admin REST APIs. Most runs are in-process through the
 * CLI's own runCli (same parsing, output and exit codes, without a second of start-up each); a
 * few run as child processes, the way a user does.
 */
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startChildServer, type ChildServer } from '../helpers/child-server.ts';
import { freePort } from '../helpers/server.ts';
import { CLI, inProcess, json, runCli, runNode, STACK_LINE, tempConfig, type CliRun } from './run-cli.ts';

const ACCOUNTS = new URL('../../specs/ob-read-write-openapi/v3.1.11/account-info-openapi.yaml', import.meta.url).pathname;
const BACKEND = 'http://127.0.0.1:9/bank';
const UNKNOWN = '00000000-0000-4000-8000-000000000000';

/** A small payments API: an idempotent, JWS-signed POST with its own limit. */
const PAYMENTS = {
  openapi: '3.0.3',
  info: { title: 'CLI Payments', version: '1.0' },
  components: {
    securitySchemes: { TPP: { type: 'oauth2', flows: { clientCredentials: { tokenUrl: 'https://as.example.com/token', scopes: { payments: 'Payments' } } } } },
  },
  paths: {
    '/domestic-payment-consents': {
      post: {
        security: [{ TPP: ['payments'] }],
        parameters: [
          { name: 'x-idempotency-key', in: 'header', required: true, schema: { type: 'string' } },
          { name: 'x-jws-signature', in: 'header', required: true, schema: { type: 'string' } },
        ],
        'x-throttling-limit': { requestCount: 5, timeUnit: 'sec' },
        responses: { 201: { description: 'Created' } },
      },
    },
  },
};

/** A run that must fail with `code` and one-or-more `opendcr: …` lines, never a stack trace. */
function failed(r: CliRun, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}${r.stdout}`);
  assert.doesNotMatch(r.stderr, STACK_LINE);
  assert.match(r.stderr, pattern);
}

/** Runs each argument list in turn. */
async function inTurn(run: (...args: string[]) => Promise<CliRun>, list: string[][]): Promise<CliRun[]> {
  const runs: CliRun[] = [];
  for (const args of list) runs.push(await run(...args));
  return runs;
}

test('--help of api, plan, subscription and keymanager lists their subcommands; every subcommand has --help', async () => {
  const groups = {
    api: ['import', 'reimport', 'list', 'show', 'publish', 'deprecate', 'retire', 'block', 'republish', 'delete'],
    plan: ['list', 'add', 'remove'],
    subscription: ['list', 'add', 'block', 'unblock', 'set-plan'],
    keymanager: ['list', 'show', 'add', 'enable', 'disable', 'remove'],
  };
  // One as a user runs it, the others in-process.
  const runs = [
    await runNode(CLI, ['api', '--help']),
    ...(await inTurn(
      (...a) => inProcess(a),
      [
        ['plan', '--help'],
        ['subscription', '--help'],
        ['keymanager', '--help'],
      ],
    )),
  ];
  Object.entries(groups).forEach(([group, subs], i) => {
    const r = runs[i]!;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: opendcr ${group} `));
    for (const sub of subs) assert.match(r.stdout, new RegExp(`^  ${sub} `, 'm'), `${group} ${sub} in:\n${r.stdout}`);
  });
  const all = Object.entries(groups).flatMap(([group, subs]) => subs.map((sub) => [group, sub, '--help']));
  const subs = await inTurn((...a) => inProcess(a), all);
  subs.forEach((r, i) => {
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: opendcr ${all[i]![0]} ${all[i]![1]} `));
    for (const option of ['--server', '--ca', '--json']) assert.ok(r.stdout.includes(option), `${all[i]!.join(' ')}: ${option}`);
  });
  const help = (group: string, sub: string) => subs[all.findIndex((a) => a[0] === group && a[1] === sub)]!.stdout;
  for (const option of ['--backend', '--context', '--version', '--name', '--plans', '--roles', '--verify-jws'])
    assert.ok(help('api', 'import').includes(option), option);
  assert.ok(help('api', 'reimport').includes('--no-verify-jws'));
  assert.ok(help('api', 'reimport').includes('--dry-run'));
  assert.ok(help('api', 'publish').includes('--subscribe-existing'));
  for (const option of ['--requests', '--per', '--unit-time', '--burst', '--burst-per', '--no-stop-on-quota', '--display-name', '--description'])
    assert.ok(help('plan', 'add').includes(option), option);
  for (const option of ['--client', '--key-manager', '--api']) assert.ok(help('subscription', 'list').includes(option), option);
  for (const option of ['--key-manager', '--plan']) assert.ok(help('subscription', 'add').includes(option), option);
  for (const option of [
    '--discovery',
    '--issuer',
    '--validation',
    '--introspection-client-id',
    '--audience',
    '--reference',
    '--jwt-issuer',
    '--custom',
    '--client-id-claim',
    '--scopes-claim',
    '--roles-claim',
  ]) {
    assert.ok(help('keymanager', 'add').includes(option), option);
  }
});

describe('against a running server', () => {
  let cfg: ReturnType<typeof tempConfig>;
  let server: ChildServer;
  let accountsId: string;
  let paymentsId: string;
  const cli = (...args: string[]) => inProcess(['--config', cfg.file, ...args]);
  const child = (...args: string[]) => runCli(cfg.file, ...args);

  before(async () => {
    const port = await freePort();
    cfg = tempConfig('opendcr-cli-gateway-', port, 'workers = 1\n');
    server = await startChildServer({ cwd: cfg.dir, port, script: CLI, args: ['--config', cfg.file, 'start'], env: { OPENDCR_LOG_LEVEL: 'warn' } });
    writeFileSync(join(cfg.dir, 'payments.json'), JSON.stringify(PAYMENTS));
    writeFileSync(join(cfg.dir, 'invalid.yaml'), 'openapi: 3.0.0\ninfo: {title: x}\npaths: {}\n');
  });
  after(async () => {
    await server?.stop();
    rmSync(cfg.dir, { recursive: true, force: true });
  });

  test('bad input: one line, exit 2 for usage (1 for a file that cannot be read), nothing sent', async () => {
    const runs = [
      ...(await Promise.all([
        child('api', 'import', join(cfg.dir, 'missing.yaml'), '--backend', BACKEND),
        child('plan', 'add', 'X', '--requests', 'ten', '--per', 'min'),
      ])),
      ...(await inTurn(cli, [
        ['api', 'import', cfg.dir, '--backend', BACKEND],
        ['api', 'import', '--backend', BACKEND],
        ['api', 'import', ACCOUNTS, '--backend', BACKEND, '--roles', 'AISP,Banker'],
        ['api', 'import', ACCOUNTS, '--backend', ''],
        ['plan', 'add', 'X', '--requests', '10', '--per', 'week'],
        ['plan', 'add', 'X', '--requests', '10', '--per', 'min', '--burst', '5'],
        ['plan', 'add', 'X', '--requests', '10', '--per', 'min', '--unit-time', '1.5'],
        ['api', 'list', '--server', 'http://localhost:1'],
        ['api', 'show', ' '],
      ])),
    ];
    const expected: Array<[number, RegExp]> = [
      [1, /^opendcr: .*missing\.yaml: no such file\n$/],
      [2, /^opendcr: --requests must be a positive whole number, got "ten"\n$/],
      [1, /^opendcr: .*: is a folder, not a file\n$/],
      [2, /^error: missing required argument 'file'\n$/],
      [2, /^opendcr: --roles must be among AISP, PISP, CBPII, ASPSP, got BANKER\n$/],
      [2, /^opendcr: --backend must not be empty\n$/],
      [2, /^error: option '--per <unit>' argument 'week' is invalid\. Allowed choices are sec, min, hour, day\.\n$/],
      [2, /^opendcr: --burst and --burst-per go together \(e\.g\. --burst 10 --burst-per sec\)\n$/],
      [2, /^opendcr: --unit-time must be a positive whole number, got "1\.5"\n$/],
      [2, /^opendcr: --server must be an https URL, got "http:\/\/localhost:1"\n$/],
      [2, /^opendcr: the API id must not be empty\n$/],
    ];
    runs.forEach((r, i) => {
      failed(r, expected[i]![0], expected[i]![1]);
    });
    assert.equal(json<{ count: number }>(await cli('api', 'list', '--json')).count, 0, 'nothing was imported');
  });

  // One operator's session, step by step: each step starts from where the one before left the
  // server (a plan to import with, an API to publish, then to subscribe to, then to remove),
  // so the steps are one case; run alone, it runs whole.
  test('an operator at work: plans, import, lifecycle, subscriptions, removal, in that order', async (t) => {
    await t.test('plan add and list (built-ins and the new one), human and --json', async () => {
      const added = json(
        await cli(
          'plan',
          'add',
          'CliPartner',
          '--requests',
          '300',
          '--per',
          'min',
          '--burst',
          '10',
          '--burst-per',
          'sec',
          '--description',
          'For partners',
          '--json',
        ),
      );
      assert.equal(added['policyName'], 'CliPartner');
      assert.deepEqual(added['defaultLimit'], { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 300 } });
      assert.equal(added['rateLimitCount'], 10);
      assert.equal(added['stopOnQuotaReach'], true);
      const soft = await cli('plan', 'add', 'CliSoft', '--requests', '50', '--per', 'hour', '--unit-time', '2', '--no-stop-on-quota');
      assert.equal(soft.code, 0, soft.stderr);
      assert.equal(soft.stdout, 'Added business plan CliSoft: 50/2hour, over quota counted only\n');
      failed(
        await cli('plan', 'add', 'CliSoft', '--requests', '1', '--per', 'sec'),
        1,
        /^opendcr: the server rejected the plan \(HTTP 409\): PLAN_EXISTS: a business plan named "CliSoft" exists\n$/,
      );
      failed(
        await cli('plan', 'add', 'CliHuge', '--requests', '1', '--per', 'sec', '--unit-time', '5000'),
        1,
        /^opendcr: the server rejected the plan \(HTTP 400\): PLAN_INVALID: /,
      );
      const listed = json<{ list: Array<Record<string, unknown>> }>(await cli('plan', 'list', '--json'));
      assert.deepEqual(
        listed.list.map((p) => p['policyName']),
        ['Bronze', 'CliPartner', 'CliSoft', 'Gold', 'Silver', 'Unlimited'],
      );
      const table = await cli('plan', 'list');
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^NAME +LIMIT +BURST +OVER QUOTA +KIND +DESCRIPTION\n/);
      assert.match(table.stdout, /^CliPartner +300\/min +10\/sec +stop +custom +For partners$/m);
      assert.match(table.stdout, /^CliSoft +50\/2hour +- +count only +custom$/m);
      assert.match(table.stdout, /^Unlimited +unlimited +- +stop +built-in +Allows unlimited requests$/m);
    });

    await t.test('api import (OB accounts, and a small payments API on internal:dcr), list and show', async () => {
      // As a user runs it.
      const accounts = json(await child('api', 'import', ACCOUNTS, '--backend', BACKEND, '--plans', 'Unlimited,CliPartner', '--json'));
      accountsId = String(accounts['id']);
      assert.equal(accounts['lifeCycleStatus'], 'CREATED');
      assert.equal(accounts['context'], '/open-banking/v3.1/aisp');
      assert.equal((accounts['operations'] as unknown[]).length, 29);
      assert.deepEqual(accounts['policies'], ['Unlimited', 'CliPartner']);
      assert.deepEqual(accounts['requiredRoles'], ['AISP']);

      const payments = await cli(
        'api',
        'import',
        join(cfg.dir, 'payments.json'),
        '--backend',
        'internal:dcr',
        '--context',
        '/cli/pay',
        '--name',
        'Pay',
        '--version',
        '2',
        '--roles',
        'pisp',
        '--verify-jws',
      );
      assert.equal(payments.code, 0, payments.stderr);
      paymentsId = /^Imported Pay 2 \(([0-9a-f-]{36})\)$/m.exec(payments.stdout)?.[1] ?? '';
      assert.ok(paymentsId, payments.stdout);
      for (const line of [
        '  state       CREATED',
        '  context     /cli/pay',
        '  backend     internal:dcr',
        '  plans       Unlimited',
        '  roles       PISP',
        '  verify JWS  yes',
        '  operations  1',
        `Publish it with: opendcr api publish ${paymentsId}`,
      ]) {
        assert.ok(payments.stdout.includes(`${line}\n`), `${line} in:\n${payments.stdout}`);
      }

      const list = await cli('api', 'list');
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^ID +STATE +VERSION +CONTEXT +OPS +PLANS +ROLES +NAME\n/);
      assert.match(
        list.stdout,
        new RegExp(
          `^${accountsId} +CREATED +3\\.1\\.11 +/open-banking/v3\\.1/aisp +29 +Unlimited,CliPartner +AISP +Account and Transaction API Specification$`,
          'm',
        ),
      );
      assert.match(list.stdout, new RegExp(`^${paymentsId} +CREATED +2 +/cli/pay +1 +Unlimited +PISP +Pay$`, 'm'));
      assert.equal(json<{ count: number }>(await cli('api', 'list', '--json')).count, 2);

      const show = await cli('api', 'show', accountsId);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /^METHOD +PATH +FLOWS +SCOPES +FLAGS$/m);
      assert.match(show.stdout, /^POST +\/account-access-consents +client_credentials +accounts +-$/m);
      assert.match(show.stdout, /^GET +\/accounts\/\{AccountId\}\/balances +authorization_code +accounts +-$/m);
      const pay = await cli('api', 'show', paymentsId);
      assert.match(pay.stdout, /^POST +\/domestic-payment-consents +client_credentials +payments +idempotency,jws,limit 5\/sec$/m);
      const shown = json(await cli('api', 'show', paymentsId, '--json'));
      assert.equal(shown['verifyJwsSignature'], true);
      assert.deepEqual(
        (shown['operations'] as Array<Record<string, unknown>>).map((o) => [o['idempotency'], o['jwsSignature']]),
        [[true, true]],
      );
    });

    await t.test('an invalid document is refused with API_DOCUMENT_INVALID and its problems, on import and re-import', async () => {
      const r = await cli('api', 'import', join(cfg.dir, 'invalid.yaml'), '--backend', BACKEND);
      failed(
        r,
        1,
        /^opendcr: the server rejected the import \(HTTP 400\): API_DOCUMENT_INVALID: the document is invalid, nothing was changed:\n(opendcr: {3}\S.*\n)+$/,
      );
      const asJson = await cli('api', 'reimport', accountsId, join(cfg.dir, 'invalid.yaml'), '--json');
      assert.equal(asJson.code, 1);
      const body = JSON.parse(asJson.stdout) as Record<string, unknown>;
      assert.equal(body['code'], 'API_DOCUMENT_INVALID');
      assert.match(String(body['message']), /nothing was changed/);
      assert.equal((json(await cli('api', 'show', accountsId, '--json'))['operations'] as unknown[]).length, 29, 'unchanged');
      failed(
        await cli('api', 'import', ACCOUNTS, '--backend', 'ftp://bank'),
        1,
        /^opendcr: the server rejected the import \(HTTP 400\): API_INVALID: backend URL must be http\(s\):\/\/host/,
      );
    });

    await t.test("lifecycle: publish, deprecate, block, republish; a wrong move is refused with the server's code", async () => {
      const publish = await cli('api', 'publish', accountsId, '--subscribe-existing');
      assert.equal(publish.code, 0, publish.stderr);
      assert.equal(publish.stdout, `API ${accountsId} is now PUBLISHED; subscribed 0 registration(s)\n`);
      const again = await cli('api', 'publish', accountsId, '--json');
      failed(
        again,
        1,
        /^opendcr: the server rejected Publish \(HTTP 409\): API_LIFECYCLE_INVALID: Publish is not allowed from PUBLISHED \(only from CREATED\)\n$/,
      );
      assert.equal(JSON.parse(again.stdout)['code'], 'API_LIFECYCLE_INVALID');
      for (const [action, state] of [
        ['deprecate', 'DEPRECATED'],
        ['block', 'BLOCKED'],
        ['republish', 'PUBLISHED'],
      ] as const) {
        const answer = json<{ lifecycleState: { state: string } }>(await cli('api', action, accountsId, '--json'));
        assert.equal(answer.lifecycleState.state, state, action);
      }
      failed(await cli('api', 'retire', accountsId), 1, /API_LIFECYCLE_INVALID: Retire is not allowed from PUBLISHED/);
      failed(await cli('api', 'publish', UNKNOWN), 1, /^opendcr: the server rejected Publish \(HTTP 404\): API_NOT_FOUND: no API with that id\n$/);
    });

    await t.test('subscriptions: an empty list; block, unblock and set-plan of an unknown id are SUBSCRIPTION_NOT_FOUND', async () => {
      const [list, listJson, filtered, setPlan, block, unblock] = await inTurn(cli, [
        ['subscription', 'list'],
        ['subscription', 'list', '--json'],
        ['subscription', 'list', '--client', 'some-client', '--api', accountsId, '--json'],
        ['subscription', 'set-plan', UNKNOWN, 'Gold'],
        ['subscription', 'block', UNKNOWN, '--json'],
        ['subscription', 'unblock', UNKNOWN],
      ]);
      assert.equal(list!.code, 0, list!.stderr);
      assert.equal(list!.stdout, 'No subscriptions match.\n');
      assert.deepEqual(json(listJson!)['list'], []);
      assert.equal(json(filtered!)['count'], 0);
      failed(setPlan!, 1, /^opendcr: the server rejected the plan change \(HTTP 404\): SUBSCRIPTION_NOT_FOUND: no subscription with that id\n$/);
      failed(block!, 1, /SUBSCRIPTION_NOT_FOUND/);
      assert.equal(JSON.parse(block!.stdout)['code'], 'SUBSCRIPTION_NOT_FOUND');
      failed(unblock!, 1, /SUBSCRIPTION_NOT_FOUND/);
    });

    await t.test('subscription add names its key manager (the resident one by default); an unknown one is SUBSCRIPTION_INVALID', async () => {
      const added = await cli('subscription', 'add', 'cli-dcr-client', accountsId);
      assert.equal(added.code, 0, added.stderr);
      assert.match(
        added.stdout,
        new RegExp(`^subscription \\S+: client cli-dcr-client of Resident Key Manager, API ${accountsId}, plan Unlimited, UNBLOCKED\\n$`),
      );
      failed(await cli('subscription', 'add', 'cli-dcr-client', accountsId), 1, /SUBSCRIPTION_EXISTS/);
      failed(
        await cli('subscription', 'add', 'cli-dcr-client', accountsId, '--key-manager', 'Partner IdP', '--plan', 'Unlimited'),
        1,
        /^opendcr: the server rejected the subscription \(HTTP 400\): SUBSCRIPTION_INVALID: no key manager named "Partner IdP"; see keymanager list\n$/,
      );
      const list = await cli('subscription', 'list', '--key-manager', 'Resident Key Manager');
      assert.equal(list.code, 0, list.stderr);
      assert.match(
        list.stdout,
        /^ID\s+STATUS\s+PLAN\s+API_ID\s+CREATED\s+KEY_MANAGER\s+CLIENT_ID\n\S+\s+UNBLOCKED\s+Unlimited\s+\S+\s+\S+\s+Resident Key Manager\s+cli-dcr-client\n$/,
      );
      assert.equal(json(await cli('subscription', 'list', '--client', 'cli-dcr-client', '--key-manager', 'Partner IdP', '--json'))['count'], 0);
    });

    await t.test('a plan in use is refused with PLAN_IN_USE; once re-imported without it, it is removed', async () => {
      failed(
        await cli('plan', 'remove', 'CliPartner'),
        1,
        new RegExp(
          `^opendcr: the server rejected the removal \\(HTTP 409\\): PLAN_IN_USE: business plan "CliPartner" is offered by API\\(s\\) [^;]+ \\(${accountsId}\\); change those first\\n$`,
        ),
      );
      failed(await cli('plan', 'remove', 'Gold'), 1, /PLAN_BUILT_IN/);
      const dry = await cli('api', 'reimport', accountsId, join(cfg.dir, 'payments.json'), '--dry-run');
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /^Document version 3\.1\.11 -> 1\.0; roles AISP -> PISP\n {2}\+ POST \/domestic-payment-consents\n/);
      assert.match(dry.stdout, /^ {2}- GET \/accounts$/m);
      assert.match(dry.stdout, /1 added, 29 removed, 0 changed, 0 unchanged; nothing was changed/);
      assert.equal(json(await cli('api', 'show', accountsId, '--json'))['version'], '3.1.11', 'the dry run changed nothing');
      const reimported = json(await cli('api', 'reimport', accountsId, ACCOUNTS, '--plans', 'Unlimited', '--json'));
      assert.deepEqual(reimported['policies'], ['Unlimited']);
      assert.equal(reimported['lifeCycleStatus'], 'PUBLISHED');
      assert.equal((reimported['endpointConfig'] as { production_endpoints: { url: string } }).production_endpoints.url, BACKEND, 'kept');
      const removed = await cli('plan', 'remove', 'CliPartner');
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal(removed.stdout, 'Removed business plan CliPartner\n');
      assert.deepEqual(json(await cli('plan', 'remove', 'CliSoft', '--json')), { policyName: 'CliSoft', removed: true });
    });

    await t.test('deprecate, retire and delete; a deleted API is API_NOT_FOUND', async () => {
      assert.equal((await cli('api', 'deprecate', accountsId)).stdout, `API ${accountsId} is now DEPRECATED\n`);
      assert.equal((await cli('api', 'retire', accountsId)).stdout, `API ${accountsId} is now RETIRED\n`);
      const deleted = await cli('api', 'delete', accountsId);
      assert.equal(deleted.stdout, `Deleted API ${accountsId}\n`);
      assert.deepEqual(json(await cli('api', 'delete', paymentsId, '--json')), { id: paymentsId, deleted: true });
      failed(await cli('api', 'show', accountsId), 1, /^opendcr: the server rejected the request \(HTTP 404\): API_NOT_FOUND: no API with that id\n$/);
      assert.equal(json<{ count: number }>(await cli('api', 'list', '--json')).count, 0);
    });
  });

  test('keymanager: the resident one listed, shown, disabled and enabled, never removed; an add that fails validation saves nothing', async () => {
    const list = await cli('keymanager', 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+KIND\s+ENABLED\s+VALIDATION\s+ISSUER$/m);
    assert.match(list.stdout, /^Resident Key Manager\s+resident\s+yes\s+-\s+https:\/\/localhost:\d+/m);
    const shown = await cli('keymanager', 'show', 'Resident Key Manager');
    assert.match(shown.stdout, /^Resident Key Manager \(resident, enabled\)\n {2}issuer: +https:\/\/localhost:\d+/);
    const off = await cli('keymanager', 'disable', 'Resident Key Manager', '--json');
    assert.equal(json<{ enabled: boolean }>(off).enabled, false);
    assert.match((await cli('keymanager', 'enable', 'Resident Key Manager')).stdout, /^Key manager Resident Key Manager enabled$/m);
    failed(await cli('keymanager', 'remove', 'Resident Key Manager'), 1, /KEY_MANAGER_RESIDENT/);
    failed(
      await cli('keymanager', 'add', 'Partner IdP', '--discovery', 'https://idp.partner.example/.well-known/openid-configuration'),
      1,
      /KEY_MANAGER_INVALID.*not allowed by configuration/,
    );
    failed(
      await cli(
        'keymanager',
        'add',
        'Partner IdP',
        '--discovery',
        'https://idp.partner.example/.well-known/openid-configuration',
        '--validation',
        'introspection',
      ),
      2,
      /OPENDCR_INTROSPECTION_SECRET/,
    );
    failed(await cli('keymanager', 'show', 'Partner IdP'), 1, /KEY_MANAGER_NOT_FOUND/);
    assert.equal(json<{ count: number }>(await cli('keymanager', 'list', '--json')).count, 1);
  });

  test('wrong administrator password and an unreachable server: exit 1, saying what to do', async () => {
    const denied = await inProcess(['--config', cfg.file, 'plan', 'list'], { OPENDCR_ADMIN_PASSWORD: 'not-the-password' });
    failed(
      denied,
      1,
      /^opendcr: the server rejected the list \(HTTP 401\): ADMIN_UNAUTHORIZED: administrator credentials are missing or wrong\nopendcr: the command line uses \[super_admin\] username and password/,
    );
    const closed = await cli('subscription', 'list', '--server', `https://localhost:${await freePort()}`);
    failed(closed, 1, /^opendcr: cannot reach https:\/\/localhost:\d+ \(given with --server\): connect ECONNREFUSED .*; start the server/);
    assert.equal(closed.stderr.split('\n').filter(Boolean).length, 1);
  });
});
