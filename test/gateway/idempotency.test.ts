/**
 * x-idempotency-key is executed by the backend at most once, as a TPP reads the OB spec. An attack
 * on the gateway had a backend slower than backend_timeout answered 504 and the retry run the
 * payment consent a second time; a backend 500 freed the key too; and under kill -9 of workers and
 * of the primary, 10 of 2,064 keys ran twice once their lease ran out.
 *
 * Here the recording backend counts executions per key. Many keys at a time go through each way a
 * call can end: answered, a backend 500, too slow (504), a cut connection (502), a connection
 * refused (never sent: the one case a retry may run), a retry while the first is still running;
 * and, on a server with two workers, kill -9 of the workers, then of the primary, mid-load. Every
 * key is retried until the gateway gives a final answer, past the time a lease runs out; the
 * assertion is exactly 0 duplicates, every acknowledged answer replayed, and a table with no key
 * left in progress.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { startDcrEnvironment, tlsOf, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import type { ClusterTestServer, TestServerBase } from '../helpers/server.ts';
import { startTestBackend, type TestBackend } from './backend.ts';
import { OB_FILES, publishApi, ADMIN, jsonOf } from './support.ts';

const CONSENTS = '/open-banking/v3.1/pisp/domestic-payment-consents';

interface Answer {
  status: number;
  code: string | undefined;
  body: string;
  retryAfter: string | undefined;
}

/** Sends one payment consent with `key`; a transport failure (a killed server) is `undefined`. */
async function pay(
  env: DcrEnvironment<TestServerBase>,
  token: string,
  key: string,
  body = `{"Data":{"Initiation":{"InstructionIdentification":"${key}"}},"Risk":{}}`,
): Promise<Answer | undefined> {
  let res: Dispatcher.ResponseData;
  try {
    res = await env.ts.mtlsAgent(tlsOf(env.aispPisp.transport)).request({
      origin: env.url,
      path: CONSENTS,
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-idempotency-key': key, 'x-fapi-interaction-id': randomUUID() },
    });
  } catch {
    return undefined;
  }
  const text = await res.body.text().catch(() => undefined);
  if (text === undefined) return undefined;
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as Record<string, unknown>)['Code'] as string | undefined;
  } catch {
    code = undefined;
  }
  const retryAfter = res.headers['retry-after'];
  return { status: res.statusCode, code, body: text, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined };
}

/** How many times the backend executed each key. */
function executions(backend: TestBackend): Map<string, number> {
  const counts = new Map<string, number>();
  for (const c of backend.calls) {
    const key = c.headers['x-idempotency-key'];
    if (typeof key === 'string') counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

const duplicates = (backend: TestBackend, keys: readonly string[]) => {
  const counts = executions(backend);
  return keys.filter((k) => (counts.get(k) ?? 0) > 1).map((k) => `${k}×${counts.get(k)}`);
};

/** Runs `fn` for every item, `width` at a time. */
async function inParallel<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function setup(env: DcrEnvironment<TestServerBase>, backend: TestBackend): Promise<{ token: string; apiId: string }> {
  const api = await publishApi((path, init) => env.ts.fetch(path, init as never), OB_FILES.payments, `${backend.url}/bank`);
  const reg = await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp)), 201);
  return { token: await env.ccToken(env.aispPisp, String(reg['client_id']), 'private_key_jwt', { scope: 'payments' }), apiId: String(api['id']) };
}

describe('one server: every way a call can end', () => {
  let env: DcrEnvironment;
  let backend: TestBackend;
  let token: string;
  let apiId: string;
  const keys = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}-${i}-${randomUUID().slice(0, 8)}`);

  before(async () => {
    backend = await startTestBackend();
    env = await startDcrEnvironment({ gateway: { backend_timeout: 1000, backend_connect_timeout: 1000 } });
    ({ token, apiId } = await setup(env, backend));
  });
  after(async () => {
    await env?.close();
    await backend?.close();
  });

  for (const [name, behaviour, status, code] of [
    ['answered (201)', { status: 201 }, 201, undefined],
    ['a backend 500', { status: 500 }, 500, undefined],
  ] as const) {
    test(`${name}: kept and replayed to every retry; each key executed once`, async () => {
      const batch = keys(25, name.slice(0, 8).replace(/\W/g, ''));
      backend.behave(behaviour);
      try {
        const first = new Map<string, string>();
        await inParallel(batch, 10, async (k) => {
          const a = (await pay(env, token, k))!;
          assert.equal(a.status, status, a.body);
          assert.equal(a.code, code);
          first.set(k, a.body);
        });
        backend.behave({ status: 201 });
        await inParallel([...batch, ...batch], 10, async (k) => {
          const a = (await pay(env, token, k))!;
          assert.equal(a.status, status, `a retry gets the first answer: ${a.body}`);
          assert.equal(a.body, first.get(k));
        });
        assert.deepEqual(duplicates(backend, batch), []);
        assert.ok(batch.every((k) => executions(backend).get(k) === 1));
      } finally {
        backend.behave({});
      }
    });
  }

  for (const [name, behaviour, status, code] of [
    ['the backend slower than backend_timeout', { delayMs: 1500 }, 504, 'GATEWAY_BACKEND_TIMEOUT'],
    ['the connection cut after the backend had the request', { hangUp: true }, 502, 'GATEWAY_BACKEND_UNREACHABLE'],
  ] as const) {
    test(`${name}: the outcome is unknown, and a retry is told so instead of running the call again`, async () => {
      const batch = keys(20, 'lost');
      backend.behave(behaviour);
      try {
        await inParallel(batch, 10, async (k) => {
          const a = (await pay(env, token, k))!;
          assert.equal(a.status, status, a.body);
          assert.equal(a.code, code);
        });
        backend.behave({ status: 201 });
        await inParallel([...batch, ...batch], 10, async (k) => {
          const a = (await pay(env, token, k))!;
          assert.equal(a.status, 409, a.body);
          assert.equal(a.code, 'GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN');
          const ob = JSON.parse(a.body) as { Errors: Array<{ ErrorCode: string }> };
          assert.equal(ob.Errors[0]!.ErrorCode, 'UK.OBIE.UnexpectedError');
        });
        assert.deepEqual(duplicates(backend, batch), []);
        assert.ok(
          batch.every((k) => executions(backend).get(k) === 1),
          'each was executed by the backend once',
        );
      } finally {
        backend.behave({});
      }
    });
  }

  test('a retry while the first call runs: 409 IN_PROGRESS with Retry-After, then the answer', async () => {
    const batch = keys(10, 'running');
    backend.behave({ status: 201, delayMs: 700 });
    try {
      const firsts = batch.map((k) => pay(env, token, k));
      // Each first call has reached the backend (its key is claimed) before its retry is sent.
      for (let i = 0; i < 200 && batch.some((k) => !executions(backend).has(k)); i++) await sleep(10);
      const retries = await Promise.all(batch.map((k) => pay(env, token, k)));
      const answers = await Promise.all(firsts);
      for (const [i, r] of retries.entries()) {
        if (answers[i]!.status === 201 && r!.status === 201) continue; // the first ended before its retry arrived
        assert.equal(r!.status, 409, r!.body);
        assert.equal(r!.code, 'GATEWAY_IDEMPOTENCY_IN_PROGRESS');
        assert.ok(Number(r!.retryAfter) >= 1, `Retry-After: ${String(r!.retryAfter)}`);
      }
      assert.ok(
        retries.some((r) => r!.status === 409),
        'at least one retry came while its first call ran',
      );
      for (const [i, k] of batch.entries()) assert.equal((await pay(env, token, k))!.body, answers[i]!.body);
      assert.deepEqual(duplicates(backend, batch), []);
    } finally {
      backend.behave({});
    }
  });

  test('a call that never left (connection refused) frees its key: the retry runs, once', async () => {
    const dead = await startTestBackend();
    const deadUrl = dead.url;
    await dead.close();
    const setBackend = async (url: string) =>
      jsonOf(
        await env.ts.fetch(`/api/am/publisher/v4/apis/${apiId}`, {
          method: 'PUT',
          headers: { authorization: ADMIN, 'content-type': 'application/json' },
          body: JSON.stringify({ endpointConfig: { production_endpoints: { url } } }),
        }),
        200,
      );
    const batch = keys(10, 'refused');
    await setBackend(`${deadUrl}/bank`);
    try {
      await inParallel(batch, 5, async (k) => {
        const a = (await pay(env, token, k))!;
        assert.equal(a.status, 502, a.body);
      });
    } finally {
      await setBackend(`${backend.url}/bank`);
    }
    backend.behave({ status: 201 });
    try {
      await inParallel(batch, 5, async (k) => assert.equal((await pay(env, token, k))!.status, 201));
      assert.ok(batch.every((k) => executions(backend).get(k) === 1));
    } finally {
      backend.behave({});
    }
  });
});

describe('two workers, kill -9 of the workers and of the primary mid-load', () => {
  let env: DcrEnvironment<ClusterTestServer>;
  let backend: TestBackend;
  let token: string;

  before(async () => {
    backend = await startTestBackend();
    // A lease is connect + backend timeouts + the margin: 4 s here.
    env = await startDcrEnvironment({ gateway: { backend_timeout: 1000, backend_connect_timeout: 1000, idempotency_lease_margin: 2 } }, { workers: 2 });
    ({ token } = await setup(env, backend));
  });
  after(async () => {
    await env?.close();
    await backend?.close();
  });

  for (const victim of ['workers', 'primary'] as const) {
    test(`kill -9 of the ${victim}: no key executed twice, every acknowledged answer replayed, none left in progress`, async (t) => {
      const batch = Array.from({ length: 160 }, (_, i) => `${victim}-${i}-${randomUUID().slice(0, 8)}`);
      const acknowledged = new Map<string, string>();
      backend.behave({ status: 201, delayMs: 150 });
      let killed = false;
      const load = inParallel(batch, 24, async (k) => {
        const a = await pay(env, token, k);
        if (a?.status === 201 && !killed) acknowledged.set(k, a.body);
      });
      for (let i = 0; i < 500 && acknowledged.size < 40; i++) await sleep(10);
      killed = true;
      if (victim === 'workers') env.ts.killWorkers();
      else await env.ts.kill();
      await load;
      if (victim === 'primary') await env.ts.restart();
      const inFlight = batch.filter((k) => executions(backend).has(k) && !acknowledged.has(k)).length;
      t.diagnostic(`${acknowledged.size} acknowledged before kill -9, ${inFlight} executed by the backend without an answer`);

      // Every key until a final answer: the acknowledged ones replayed, the rest run once or known lost.
      const final = new Map<string, Answer>();
      const deadline = Date.now() + 60_000;
      while (final.size < batch.length && Date.now() < deadline) {
        await inParallel(
          batch.filter((k) => !final.has(k)),
          24,
          async (k) => {
            const a = await pay(env, token, k);
            if (a && !(a.status === 409 && a.code === 'GATEWAY_IDEMPOTENCY_IN_PROGRESS') && a.status < 500) final.set(k, a);
          },
        );
        if (final.size < batch.length) await sleep(500);
      }
      assert.equal(final.size, batch.length, 'every key got a final answer once its lease ran out');
      // And again, past every lease: nothing is run a second time.
      const same = (a: Answer) => (a.code === undefined ? `${a.status} ${a.body}` : `${a.status} ${a.code}`);
      await inParallel(batch, 24, async (k) => {
        const a = (await pay(env, token, k))!;
        assert.equal(same(a), same(final.get(k)!), `${k}: the same answer every time`);
      });

      assert.deepEqual(duplicates(backend, batch), [], 'no key executed twice');
      for (const [k, body] of acknowledged) assert.equal(final.get(k)!.body, body, `${k}: an acknowledged answer is replayed`);
      const counts = executions(backend);
      for (const k of batch) {
        const a = final.get(k)!;
        if (a.status === 201) assert.equal(counts.get(k), 1, `${k}: answered 201, executed once`);
        else assert.equal(a.code, 'GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN', `${k}: ${a.body}`);
      }
      const unknown = batch.filter((k) => final.get(k)!.code === 'GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN').length;
      t.diagnostic(`${unknown} keys answered 409 OUTCOME_UNKNOWN (their call was in flight at kill -9), ${batch.length - unknown} answered 201`);

      // The table: each key has one row; none is in progress any more; every 201 is kept.
      const db = new DatabaseSync(join(env.ts.config.derived.dataDir, 'opendcr.db'), { readOnly: true });
      try {
        const now = Math.floor(Date.now() / 1000);
        const rows = db.prepare(`SELECT key, response, lease_until FROM gateway_idempotency WHERE key LIKE '${victim}-%'`).all() as Array<{
          key: string;
          response: string | null;
          lease_until: number;
        }>;
        assert.equal(rows.length, batch.length);
        assert.deepEqual(
          rows.filter((r) => r.response === null && r.lease_until > now).map((r) => r.key),
          [],
        );
        for (const r of rows) assert.equal(r.response !== null, final.get(r.key)!.status === 201, r.key);
      } finally {
        db.close();
      }
      backend.behave({});
    });
  }
});
