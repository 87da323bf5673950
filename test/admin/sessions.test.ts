/**
 * Admin console users and sessions: scrypt-hashed passwords, the session cookie (Secure, HttpOnly,
 * SameSite=Strict) with its idle and absolute timeouts, CSRF on every change, the read-only
 * auditor, logout everywhere, sign out everywhere (every session of a user), and throttled logins;
 * against a real server, and the session rules with an injected clock.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hashPassword, verifyPassword } from '../../src/admin/passwords.ts';
import { createSessions } from '../../src/admin/sessions.ts';
import { openStorage } from '../../src/storage/index.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const PLANS = '/api/am/admin/v4/throttling/policies/subscription';
let ts: TestServer;

before(async () => {
  ts = await startTestServer({
    admin: {
      users: [
        { username: 'ops', password_hash: await hashPassword('ops-password-123'), role: 'admin' },
        { username: 'audit', password_hash: await hashPassword('audit-password-1'), role: 'auditor' },
      ],
      login_attempts: 6,
    },
  });
});
after(async () => {
  await ts?.close();
});

async function login(username: string, password: string): Promise<{ res: Response; cookie?: string; csrf?: string }> {
  const res = await ts.fetch('/admin/api/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 201) return { res };
  const body = (await res.json()) as Record<string, unknown>;
  const cookie = /^(opendcr_admin=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  return { res, cookie: cookie!, csrf: String(body['csrfToken']) };
}

test('passwords: scrypt hashes verify the right password only; a malformed or too costly hash verifies nothing', async () => {
  const h = await hashPassword('correct horse battery');
  assert.match(h, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  assert.equal(await verifyPassword('correct horse battery', h), true);
  assert.equal(await verifyPassword('correct horse batterY', h), false);
  assert.notEqual(await hashPassword('correct horse battery'), h, 'salted');
  assert.equal(await verifyPassword('x', 'plain-text'), false);
  assert.equal(await verifyPassword('x', h.replace('32768', String(2 ** 24))), false);
});

test('sessions: a tampered cookie, an idle one and an old one are refused; a request slides the idle timeout', async () => {
  const storage = await openStorage({ url: 'sqlite::memory:', poolSize: 1, busyTimeoutMs: 1000 });
  const marks = new Set<string>();
  let t = 2_000_000_000;
  try {
    const s = await createSessions({
      storage,
      idleSeconds: 900,
      lifetimeSeconds: 3600,
      now: () => t,
      shared: {
        mark: async (_ns, id) => {
          marks.add(id);
        },
        has: async (_ns, id) => marks.has(id),
      },
    });
    const { session, cookie } = await s.issue('ops', 'admin', 'record-1');
    assert.equal(s.read(cookie)?.user, 'ops');
    assert.equal(s.read(`${cookie.slice(0, -2)}xx`), undefined, 'tampered');
    const [body, tag] = cookie.split('.');
    const forged = Buffer.from(JSON.stringify([session.id, 'ops', 'admin', t, t + 10_000, session.record, session.generation])).toString('base64url');
    assert.equal(s.read(`${forged}.${tag}`), undefined, 'another body under the old MAC');
    assert.ok(body);
    t += 899;
    const slid = s.touch(s.read(cookie)!);
    t += 899;
    assert.equal(s.read(cookie), undefined, 'idle');
    assert.equal(s.read(slid)?.user, 'ops', 'slid by the request in between');
    t = session.issuedAt + 3600;
    assert.equal(s.read(s.touch({ ...session, seenAt: t - 1 })), undefined, 'past the lifetime');
    assert.equal(s.checkCsrf(session, s.csrfToken(session)), true);
    assert.equal(s.checkCsrf(session, s.csrfToken({ ...session, id: 'other' })), false);
    assert.equal(s.checkCsrf(session, undefined), false);
    await s.revoke(session);
    assert.equal(await s.revoked(session), true);
    // Bound to the record it was made from: another record (a new password or role) is not it.
    assert.equal(s.boundTo(session, ['record-2', 'record-1']), true);
    assert.equal(s.boundTo(session, ['record-2']), false);
    assert.equal(s.boundTo(session, []), false, 'the user is gone');
    assert.equal(s.boundTo({ ...session, role: 'auditor' }, ['record-1']), false, 'another role');
    t = session.issuedAt + 10;
    const [one, two] = [await s.issue('ops', 'admin', 'record-1'), await s.issue('ops', 'admin', 'record-1')];
    const other = await s.issue('audit', 'auditor', 'record-3');
    await s.revokeAll('ops');
    assert.deepEqual([await s.revoked(one.session), await s.revoked(two.session), await s.revoked(other.session)], [true, true, false]);
    const next = await s.issue('ops', 'admin', 'record-1');
    assert.equal(await s.revoked(next.session), false, 'a login after it is a new generation');
  } finally {
    await storage.close();
  }
});

test('console login: the cookie is Secure, HttpOnly and SameSite=Strict; every change needs the CSRF token; logout ends the session', async () => {
  const bad = await login('ops', 'wrong-password');
  assert.equal(bad.res.status, 401);
  const { res, cookie, csrf } = await login('ops', 'ops-password-123');
  assert.equal(res.status, 201);
  const set = res.headers.get('set-cookie')!;
  for (const flag of ['Secure', 'HttpOnly', 'SameSite=Strict', 'Path=/']) assert.ok(set.includes(flag), flag);
  const who = (await (await ts.fetch('/admin/api/session', { headers: { cookie: cookie! } })).json()) as Record<string, unknown>;
  assert.deepEqual([who['user'], who['role'], who['csrfToken']], ['ops', 'admin', csrf]);
  assert.equal((await ts.fetch(PLANS, { headers: { cookie: cookie! } })).status, 200);
  const plan = { policyName: 'Console', defaultLimit: { requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 10 } } };
  const noCsrf = await ts.fetch(PLANS, { method: 'POST', headers: { cookie: cookie!, 'content-type': 'application/json' }, body: JSON.stringify(plan) });
  assert.equal(noCsrf.status, 403);
  assert.equal(((await noCsrf.json()) as Record<string, unknown>)['code'], 'ADMIN_CSRF');
  const withCsrf = await ts.fetch(PLANS, {
    method: 'POST',
    headers: { cookie: cookie!, 'x-csrf-token': csrf!, 'content-type': 'application/json' },
    body: JSON.stringify(plan),
  });
  assert.equal(withCsrf.status, 201);
  const out = await ts.fetch('/admin/api/session', { method: 'DELETE', headers: { cookie: cookie!, 'x-csrf-token': csrf! } });
  assert.equal(out.status, 200);
  assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
  const after = await ts.fetch(PLANS, { headers: { cookie: cookie! } });
  assert.equal(after.status, 401);
  assert.equal(((await after.json()) as Record<string, unknown>)['code'], 'ADMIN_SESSION_INVALID');
});

test('an auditor reads and cannot change anything', async () => {
  const { cookie, csrf } = await login('audit', 'audit-password-1');
  assert.equal((await ts.fetch(PLANS, { headers: { cookie: cookie! } })).status, 200);
  for (const [method, path, body] of [
    ['POST', PLANS, { policyName: 'Nope', defaultLimit: { requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 1 } } }],
    ['DELETE', `${PLANS}/Console`, undefined],
    ['POST', '/api/opendcr/v1/keys/rotate', undefined],
  ] as const) {
    const res = await ts.fetch(path, {
      method,
      headers: { cookie: cookie!, 'x-csrf-token': csrf!, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    assert.equal(res.status, 403, `${method} ${path}`);
    assert.equal(((await res.json()) as Record<string, unknown>)['code'], 'ADMIN_READ_ONLY');
  }
});

test("sign out everywhere ends every session of that user at once; other users keep theirs; with HTTP Basic it ends [super_admin]'s", async () => {
  const [a, b, audit, root] = [
    await login('ops', 'ops-password-123'),
    await login('ops', 'ops-password-123'),
    await login('audit', 'audit-password-1'),
    await login('admin', 'admin'),
  ];
  const status = async (s: { cookie?: string }) => {
    const res = await ts.fetch(PLANS, { headers: { cookie: s.cookie! } });
    return res.status === 200 ? 200 : `${res.status} ${String(((await res.json()) as Record<string, unknown>)['code'])}`;
  };
  for (const s of [a, b, audit, root]) assert.equal(await status(s), 200);
  const noCsrf = await ts.fetch('/admin/api/sessions', { method: 'DELETE', headers: { cookie: a.cookie! } });
  assert.equal(noCsrf.status, 403, 'a session needs its CSRF token for this too');
  assert.equal(await status(b), 200);

  const out = await ts.fetch('/admin/api/sessions', { method: 'DELETE', headers: { cookie: a.cookie!, 'x-csrf-token': a.csrf! } });
  assert.equal(out.status, 200);
  assert.deepEqual(await out.json(), { loggedOut: true, everywhere: true });
  assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
  assert.deepEqual(
    [await status(a), await status(b), await status(audit), await status(root)],
    ['401 ADMIN_SESSION_INVALID', '401 ADMIN_SESSION_INVALID', 200, 200],
  );
  const again = await login('ops', 'ops-password-123');
  assert.equal(await status(again), 200, 'a new login after it works');

  const basic = await ts.fetch('/admin/api/sessions', {
    method: 'DELETE',
    headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
  });
  assert.equal(basic.status, 200);
  assert.deepEqual([await status(root), await status(audit), await status(again)], ['401 ADMIN_SESSION_INVALID', 200, 200]);
});

test('logins are throttled per address: past the limit, 429 with Retry-After, even with the right password, for the form and HTTP Basic alike', async () => {
  // Earlier tests of this file used some of the 6 attempts of this address's 5-minute window.
  let last: Response | undefined;
  for (let i = 0; i < 8; i++) {
    last = (await login('ops', 'wrong-password')).res;
    if (last.status === 429) break;
    assert.equal(last.status, 401);
  }
  assert.equal(last!.status, 429);
  assert.ok(Number(last!.headers.get('retry-after')) >= 1);
  assert.equal((await login('ops', 'ops-password-123')).res.status, 429);
  // X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
  const spoofed = await ts.fetch('/admin/api/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.1' },
    body: JSON.stringify({ username: 'ops', password: 'ops-password-123' }),
  });
  assert.equal(spoofed.status, 429);
  // One throttle for every way of presenting a password: the command line's Basic credentials too.
  const basic = await ts.fetch(PLANS, { headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` } });
  assert.equal(basic.status, 429);
  assert.ok(Number(basic.headers.get('retry-after')) >= 1);
});

test('opendcr admin hash-password: the hash of standard input, which verifies; a short password or a default exits 2', async () => {
  const { spawnSync } = await import('node:child_process');
  const cli = new URL('../../src/cli/index.ts', import.meta.url).pathname;
  const ok = spawnSync(process.execPath, [cli, 'admin', 'hash-password'], { input: 'a-long-console-password\n', encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(await verifyPassword('a-long-console-password', ok.stdout.trim()), true);
  const short = spawnSync(process.execPath, [cli, 'admin', 'hash-password'], { input: 'short', encoding: 'utf8' });
  assert.equal(short.status, 2);
  assert.match(short.stderr, /at least 12 characters/);
  // The server can try only a few guesses against a hash at start: the command refuses defaults before it hashes.
  for (const weak of ['Administrator!', 'P@ssw0rd 2024', 'changeme changeme']) {
    const r = spawnSync(process.execPath, [cli, 'admin', 'hash-password'], { input: `${weak}\n`, encoding: 'utf8' });
    assert.equal(r.status, 2, weak);
    assert.match(r.stderr, /is a variant of the well-known default password "(administrator|password|changeme)"/, weak);
    assert.doesNotMatch(r.stderr, new RegExp(weak.replace(/[$()*+.?[\]^{|}]/g, '\\$&')), 'the password is not echoed');
  }
});
