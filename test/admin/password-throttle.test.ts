/**
 * One throttle for every way an administrator password is presented, on a server with two worker
 * processes (as `npm start` runs it): a brute force over HTTP Basic, spread over many client
 * addresses and both workers, racing, gets exactly `[admin] login_attempts` answers of 401 and
 * then 429 with Retry-After; the right password is refused while the account is locked, over
 * Basic and the console's login alike; failures of the login form lock Basic too; each failure and
 * the lock are logged at warn with the user name and the address, never a password. On the same
 * two workers, "sign out everywhere" ends a user's sessions on both at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { hashPassword } from '../../src/admin/passwords.ts';
import { startTestCluster, startTestServer, type ClusterTestServer, type TestServer } from '../helpers/server.ts';
import { awayFromWindowEdge, TEST_LOGIN_WINDOW } from './throttle-support.ts';

const LIMIT = 5;
const RIGHT = 'the-right-admin-password-7f3a';
const OPS = 'ops-console-password-42';
const KEYS = '/api/opendcr/v1/keys';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const config = async () => ({
  super_admin: { password: RIGHT },
  admin: { users: [{ username: 'ops', password_hash: await hashPassword(OPS), role: 'admin' }], login_attempts: LIMIT, login_window: TEST_LOGIN_WINDOW },
  // The test client connects from 127.0.0.1, which plays the load balancer: X-Forwarded-For says which client it is.
  apimgt: { mutual_ssl: { trusted_proxies: ['127.0.0.1'] } },
});

/** One call on a new connection (the primary hands connections to the workers in turn). */
async function call(
  server: ClusterTestServer | TestServer,
  path: string,
  opts: { method?: 'GET' | 'POST' | 'DELETE'; client: string; authorization?: string; json?: unknown; headers?: Record<string, string> },
): Promise<{ status: number; retryAfter: string | undefined; code: unknown; body: Record<string, unknown>; cookie: string | undefined }> {
  const agent = new Agent({ connect: { ca: server.caPem } });
  try {
    const res = await request(new URL(path, server.url), {
      method: opts.method ?? 'GET',
      dispatcher: agent,
      headers: {
        'x-forwarded-for': opts.client,
        ...(opts.authorization ? { authorization: opts.authorization } : {}),
        ...(opts.json ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
      ...(opts.json ? { body: JSON.stringify(opts.json) } : {}),
    });
    const text = await res.body.text();
    const retryAfter = res.headers['retry-after'];
    const body = text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {};
    const cookie = /^(opendcr_admin=[^;]+)/.exec(String(res.headers['set-cookie'] ?? ''))?.[1];
    return { status: res.statusCode, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, code: body['code'], body, cookie };
  } finally {
    await agent.close();
  }
}

/** The JSON lines the server printed. */
const logLines = (server: ClusterTestServer) =>
  server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const pidsOf = (server: ClusterTestServer, msg: string) =>
  new Set(
    logLines(server)
      .filter((l) => l['msg'] === msg)
      .map((l) => l['pid']),
  );

const login = (server: ClusterTestServer | TestServer, client: string, username: string, password: string) =>
  call(server, '/admin/api/session', { method: 'POST', client, json: { username, password } });

describe('a server with two workers', () => {
  let cluster: ClusterTestServer;
  before(async () => {
    cluster = await startTestCluster(await config(), { workers: 2 });
    // Ready means one worker answers: wait until both do (each logs a failed password of its own).
    for (let i = 0; i < 100 && pidsOf(cluster, 'administrator password refused').size < 2; i++) {
      await call(cluster, KEYS, { client: `192.0.2.${i + 100}`, authorization: basic(`warm-up-${i}`, 'x') });
    }
    await awayFromWindowEdge();
  });
  after(async () => {
    await cluster?.close();
  });

  test('a brute force over HTTP Basic from many addresses gets exactly login_attempts 401s, then 429; the right password is refused while locked', async () => {
    // A few guesses one after another, on new connections: both workers count them.
    for (let i = 0; i < LIMIT - 1; i++) {
      assert.equal((await call(cluster, KEYS, { client: `203.0.113.${i + 1}`, authorization: basic('admin', `guess-${i}`) })).status, 401);
    }
    // Then a burst, racing on both workers, each guess from another address.
    const burst = await Promise.all(
      Array.from({ length: 40 }, (_, i) => call(cluster, KEYS, { client: `198.51.100.${i + 1}`, authorization: basic('admin', `burst-guess-${i}`) })),
    );
    assert.equal(burst.filter((r) => r.status === 401).length, 1, 'one guess left in the window, whatever the race');
    assert.equal(burst.filter((r) => r.status === 429).length, 39);
    for (const r of burst.filter((x) => x.status === 429)) {
      assert.equal(r.code, 'ADMIN_LOGIN_THROTTLED');
      assert.ok(Number(r.retryAfter) >= 1 && Number(r.retryAfter) <= TEST_LOGIN_WINDOW, `Retry-After ${r.retryAfter}`);
    }
    // Locked: the right password is refused too, from a new address, over Basic and the console's login.
    const right = await call(cluster, KEYS, { client: '192.0.2.77', authorization: basic('admin', RIGHT) });
    assert.deepEqual([right.status, right.code], [429, 'ADMIN_LOGIN_THROTTLED']);
    assert.ok(Number(right.retryAfter) >= 1);
    assert.equal((await login(cluster, '192.0.2.78', 'admin', RIGHT)).status, 429);
    // Another account is not locked by it.
    assert.equal((await login(cluster, '192.0.2.79', 'ops', OPS)).status, 201);

    // The audit lines: every failure and the lock, with user and address, from both workers; no password.
    const lines = logLines(cluster).filter((l) => !String(l['user']).startsWith('warm-up-'));
    const refused = lines.filter((l) => l['msg'] === 'administrator password refused');
    assert.ok(refused.length >= LIMIT, `${refused.length} failures logged`);
    for (const l of refused) {
      assert.equal(l['level'], 'warn');
      assert.equal(l['user'], 'admin');
      assert.equal(l['via'], 'basic');
      assert.match(String(l['address']), /^(203\.0\.113|198\.51\.100)\.\d+$/);
    }
    assert.equal(new Set(refused.map((l) => l['pid'])).size, 2, 'both workers counted failures');
    const locked = lines.filter((l) => l['msg'] === 'administrator password attempts locked');
    assert.equal(locked.length, 1);
    assert.equal(locked[0]!['user'], 'admin');
    assert.doesNotMatch(cluster.output(), /guess-|the-right-admin-password/, 'no password in the logs');
  });

  test('sign out everywhere, asked of one worker, ends every session of the user on both at once', async () => {
    const [a, b] = [await login(cluster, '192.0.2.90', 'ops', OPS), await login(cluster, '192.0.2.90', 'ops', OPS)];
    const statuses = async (cookie: string) => {
      const out: unknown[] = [];
      // Four new connections: each worker answers twice.
      for (let i = 0; i < 4; i++) {
        const r = await call(cluster, KEYS, { client: '192.0.2.90', headers: { cookie } });
        out.push(r.status === 200 ? 200 : `${r.status} ${String(r.code)}`);
      }
      return out;
    };
    assert.deepEqual(
      [await statuses(a.cookie!), await statuses(b.cookie!)],
      [
        [200, 200, 200, 200],
        [200, 200, 200, 200],
      ],
    );
    const out = await call(cluster, '/admin/api/sessions', {
      method: 'DELETE',
      client: '192.0.2.90',
      headers: { cookie: a.cookie!, 'x-csrf-token': String(a.body['csrfToken']) },
    });
    assert.equal(out.status, 200);
    const ended = Array<string>(4).fill('401 ADMIN_SESSION_INVALID');
    assert.deepEqual([await statuses(a.cookie!), await statuses(b.cookie!)], [ended, ended]);
  });
});

describe("the console's login and HTTP Basic", () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer(await config());
    await awayFromWindowEdge();
  });
  after(async () => {
    await ts?.close();
  });

  test('count against the same account: failed form logins lock HTTP Basic, and the other way round', async () => {
    // [super_admin] signs in both ways: form failures, then a Basic one, reach the limit.
    for (let i = 0; i < LIMIT - 1; i++) assert.equal((await login(ts, `203.0.113.${i + 1}`, 'admin', `form-guess-${i}`)).status, 401);
    assert.equal((await call(ts, KEYS, { client: '203.0.113.50', authorization: basic('admin', 'basic-guess') })).status, 401);
    assert.equal((await call(ts, KEYS, { client: '203.0.113.51', authorization: basic('admin', RIGHT) })).status, 429, "Basic, locked by the form's failures");
    assert.equal((await login(ts, '203.0.113.52', 'admin', RIGHT)).status, 429);
    // A console user's account: Basic failures under its name lock its form login.
    for (let i = 0; i < LIMIT; i++)
      assert.equal((await call(ts, KEYS, { client: `198.51.100.${i + 1}`, authorization: basic('ops', `basic-guess-${i}`) })).status, 401);
    assert.equal((await login(ts, '198.51.100.60', 'ops', OPS)).status, 429, "the form, locked by Basic's failures");
  });
});
