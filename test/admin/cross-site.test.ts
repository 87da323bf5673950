/**
 * Cross-site requests riding on credentials a browser holds: no state change of the admin APIs is
 * accepted from a request a page of another origin could make a browser send (a form post, a
 * no-cors or simple cors fetch, a beacon: text/plain, urlencoded, multipart or no body), whatever
 * the credentials; a change must be JSON (Content-Type exactly application/json) or carry
 * X-Requested-With, and come from the server's own origin when Origin or Sec-Fetch-Site say where
 * it comes from. The Basic challenge goes to scripts, never to a browser.
 *
 * Every shape of such a request is first sent as a script would, with the right credentials. Then
 * in Debian's Chromium: the browser holds Basic credentials for the admin APIs, cached the way a
 * real deployment makes a browser cache them (an HTTPS tier in front that asks for Basic
 * credentials, like nginx auth_basic, answered once); a page served by another local server then
 * fires every kind of cross-site request at every state-changing API. The form posts reach the
 * server with the credentials and are refused; reading the state back shows nothing changed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import type { Browser } from 'playwright-core';
import { createCertificateAuthority, issueServerCertificate } from '../../src/crypto/pki.ts';
import { readSandboxCa, startTestServer, type TestServer } from '../helpers/server.ts';
import { OB_FILES } from '../gateway/support.ts';
import { browserMissing, launch } from '../console/browser.ts';

const ADMIN = `Basic ${Buffer.from('admin:admin').toString('base64')}`;
const OPS = '/api/opendcr/v1';
const PUBLISHER = '/api/am/publisher/v4';
const SCOPES = '/api/identity/oauth2/v1.0/scopes';
const PLANS = '/api/am/admin/v4/throttling/policies/subscription';
const DOCUMENT = readFileSync(OB_FILES.funds, 'utf8');
const IMPORT_PROPS = JSON.stringify({ endpointConfig: { production_endpoints: { url: 'http://127.0.0.1:9/bank' } } });

let ts: TestServer;
let apiId: string;
let caPem: string;
let client: Agent;

/** One request to the server, as a script would send it (undici: no User-Agent, no Sec-Fetch-*). */
async function send(
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown> }> {
  const res = await request(new URL(path, ts.url), {
    method: (opts.method ?? 'GET') as 'GET',
    headers: opts.headers ?? {},
    body: opts.body,
    dispatcher: client,
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    body: text.startsWith('{') || text.startsWith('[') ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

/** Everything the attacks aim at, as the APIs report it. */
async function state(): Promise<unknown> {
  const get = async (path: string) => (await send(path, { headers: { authorization: ADMIN } })).body;
  const list = (v: unknown) => (v as { list: Array<Record<string, unknown>> }).list;
  return {
    keys: list(await get(`${OPS}/keys`)).map((k) => [k['kid'], k['state']]),
    apis: list(await get(`${PUBLISHER}/apis`)).map((a) => [a['id'], a['name'], a['lifecycleStatus']]),
    scopes: ((await get(SCOPES)) as unknown as Array<Record<string, unknown>>).map((s) => s['name']),
    anchors: list(await get(`${OPS}/truststore`)).map((c) => c['name']),
    plans: list(await get(PLANS)).map((p) => p['policyName']),
  };
}

/** A multipart body, as a browser's form would send it. */
function multipart(fields: Record<string, string>, file?: { field: string; content: string }): { type: string; body: string } {
  const boundary = '----formboundary7MA4YWxkTrZu0gW';
  const parts = Object.entries(fields).map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`);
  if (file)
    parts.push(
      `--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="api.yaml"\r\nContent-Type: application/octet-stream\r\n\r\n${file.content}\r\n`,
    );
  return { type: `multipart/form-data; boundary=${boundary}`, body: `${parts.join('')}--${boundary}--\r\n` };
}

before(async () => {
  // Many wrong passwords below (the challenge table): the throttle is not what this file tests.
  ts = await startTestServer({ admin: { login_attempts: 1000 } });
  caPem = ts.caPem;
  client = new Agent({ connect: { ca: caPem } });
  const form = multipart({ additionalProperties: IMPORT_PROPS }, { field: 'file', content: DOCUMENT });
  const imported = await send(`${PUBLISHER}/apis/import-openapi`, {
    method: 'POST',
    headers: { authorization: ADMIN, 'content-type': form.type, 'x-requested-with': 'test' },
    body: form.body,
  });
  assert.equal(imported.status, 201, JSON.stringify(imported.body));
  apiId = String(imported.body['id']);
});
after(async () => {
  await client?.close();
  await ts?.close();
});

test('a change a browser could send across sites is refused (403 ADMIN_CROSS_SITE), with the right credentials, and changes nothing', async () => {
  const ca = await createCertificateAuthority({ subject: 'CN=Evil Root', validityDays: 2 });
  const before = await state();
  // Every state-changing POST an HTML form or a no-cors fetch can reach, with each body such a request can carry.
  const targets: Array<[string, Record<string, string>]> = [
    [`${OPS}/keys/rotate`, {}],
    [`${PUBLISHER}/apis/change-lifecycle?action=Publish&apiId=${apiId}`, {}],
    [SCOPES, { name: 'csrf_scope', displayName: 'CSRF' }],
    [`${OPS}/truststore`, { pem: ca.certPem, name: 'evil-root' }],
    [PLANS, { policyName: 'CSRF' }],
    [`${PUBLISHER}/apis/import-openapi`, { additionalProperties: IMPORT_PROPS, file: DOCUMENT }],
    [`${PUBLISHER}/apis/${apiId}/swagger/preview`, { apiDefinition: DOCUMENT }],
    ['/admin/api/session', { username: 'admin', password: 'admin' }],
  ];
  const bodies: Array<[string, (fields: Record<string, string>) => { type?: string; body?: string }]> = [
    ['no body', () => ({})],
    [
      'text/plain',
      (f) => ({
        type: 'text/plain',
        body: Object.entries(f)
          .map(([k, v]) => `${k}=${v}`)
          .join('\r\n'),
      }),
    ],
    ['text/plain JSON', (f) => ({ type: 'text/plain;charset=UTF-8', body: JSON.stringify(f) })],
    ['urlencoded', (f) => ({ type: 'application/x-www-form-urlencoded', body: new URLSearchParams(f).toString() })],
    ['multipart', (f) => multipart(f)],
    [
      'multipart with a file',
      (f) =>
        multipart(Object.fromEntries(Object.entries(f).filter(([k]) => k !== 'file' && k !== 'apiDefinition')), {
          field: 'file' in f ? 'file' : 'apiDefinition',
          content: f['file'] ?? f['apiDefinition'] ?? 'x',
        }),
    ],
    // Near JSON, but not it: none of these proves a script sent it.
    ...[
      'application/jsonp',
      'text/json',
      'application/json-patch+json',
      'text/plain; charset=application/json',
      'application/x-www-form-urlencoded, application/json',
    ].map((type): [string, (f: Record<string, string>) => { type: string; body: string }] => [type, (f) => ({ type, body: JSON.stringify(f) })]),
  ];
  for (const [path, fields] of targets) {
    for (const [label, make] of bodies) {
      const { type, body } = make(fields);
      const res = await send(path, {
        method: 'POST',
        headers: { authorization: ADMIN, ...(type ? { 'content-type': type } : {}) },
        ...(body === undefined ? {} : { body }),
      });
      assert.deepEqual([res.status, res.body['code']], [403, 'ADMIN_CROSS_SITE'], `${label} to ${path}`);
      assert.doesNotMatch(JSON.stringify(res.body), /csrf_scope|evil-root|BEGIN CERTIFICATE/, 'nothing of the request is echoed');
    }
  }
  // JSON, or a script's header, but from a page of another origin (as Origin or Sec-Fetch-Site say): refused too.
  const elsewhere: Array<Record<string, string>> = [
    ...[
      'https://evil.example',
      'null',
      'https://localhost.evil.example',
      `http://${new URL(ts.url).host}`,
      `https://localhost:${Number(new URL(ts.url).port) + 1}`,
    ].map((origin) => ({ origin })),
    ...['cross-site', 'same-site', 'none'].map((site) => ({ 'sec-fetch-site': site })),
  ];
  for (const where of elsewhere) {
    for (const how of [{ 'content-type': 'application/json' }, { 'x-requested-with': 'XMLHttpRequest', 'content-type': 'text/plain' }] as Array<
      Record<string, string>
    >) {
      const res = await send(SCOPES, { method: 'POST', headers: { authorization: ADMIN, ...how, ...where }, body: JSON.stringify({ name: 'csrf_scope' }) });
      assert.deepEqual([res.status, res.body['code']], [403, 'ADMIN_CROSS_SITE'], JSON.stringify({ ...where, ...how }));
    }
    const del = await send(`${PUBLISHER}/apis/${apiId}`, { method: 'DELETE', headers: { authorization: ADMIN, ...where } });
    assert.deepEqual([del.status, del.body['code']], [403, 'ADMIN_CROSS_SITE'], `DELETE ${JSON.stringify(where)}`);
  }
  assert.deepEqual(await state(), before, 'nothing changed');

  // What scripts and the console send passes: JSON (any case, with a charset), X-Requested-With, the console's headers, the server's own origin.
  const own = { origin: new URL(ts.url).origin, 'sec-fetch-site': 'same-origin' };
  for (const [i, headers] of [
    { 'content-type': 'application/json' },
    { 'content-type': 'Application/JSON; charset=UTF-8' },
    { 'content-type': 'application/json', ...own },
  ].entries()) {
    assert.equal(
      (await send(SCOPES, { method: 'POST', headers: { authorization: ADMIN, ...headers }, body: JSON.stringify({ name: `script_scope_${i}` }) })).status,
      201,
      JSON.stringify(headers),
    );
  }
  for (const headers of [{ 'x-requested-with': 'opendcr-cli' }, { 'x-opendcr-console': '1', ...own }] as Array<Record<string, string>>) {
    assert.equal((await send(`${OPS}/keys/rotate`, { method: 'POST', headers: { authorization: ADMIN, ...headers } })).status, 200, JSON.stringify(headers));
  }
  const form = multipart({ apiDefinition: DOCUMENT });
  assert.equal(
    (
      await send(`${PUBLISHER}/apis/${apiId}/swagger/preview`, {
        method: 'POST',
        headers: { authorization: ADMIN, 'x-requested-with': 'opendcr-cli', 'content-type': form.type },
        body: form.body,
      })
    ).status,
    200,
  );
});

test('the Basic challenge goes to scripts, never to a browser', async () => {
  const scripts: Array<Record<string, string>> = [
    {},
    { 'user-agent': 'curl/8.5.0' },
    { 'user-agent': 'node', 'sec-fetch-mode': 'cors' },
    { 'user-agent': 'python-requests/2.31' },
  ];
  const browsers: Array<Record<string, string>> = [
    { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36' },
    { 'user-agent': 'mozilla/5.0 (Windows NT 10.0; rv:120.0) Gecko/20100101 Firefox/120.0' },
    { origin: 'https://evil.example' },
    { 'sec-fetch-site': 'none' },
    { 'sec-fetch-dest': 'document' },
    { 'sec-fetch-user': '?1' },
    { 'x-opendcr-console': '1' },
  ];
  for (const [headers, challenged] of [...scripts.map((h) => [h, true] as const), ...browsers.map((h) => [h, false] as const)]) {
    for (const authorization of [undefined, `Basic ${Buffer.from('admin:wrong-password').toString('base64')}`]) {
      const res = await send(`${OPS}/keys`, { headers: { ...headers, ...(authorization ? { authorization } : {}) } });
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], challenged ? 'Basic realm="opendcr-admin", charset="UTF-8"' : undefined, JSON.stringify(headers));
    }
  }
});

interface Seen {
  method: string;
  url: string;
  authorization: boolean;
  status: number;
  code?: unknown;
}

/** What the attacker's page uses of the browser (this project compiles without the DOM library). */
interface Element {
  method: string;
  action: string;
  enctype: string;
  type: string;
  name: string;
  value: string;
  files: unknown;
  append(child: unknown): void;
  submit(): void;
}
interface BrowserGlobals {
  document: { createElement(tag: string): Element; body: { append(child: unknown): void } };
  DataTransfer: new () => { items: { add(file: File): void }; files: unknown };
  navigator: { sendBeacon(url: string, body: unknown): boolean };
}

/**
 * An HTTPS tier in front of the server that asks for Basic credentials (as nginx auth_basic does)
 * and passes everything else through as it came: what makes a real browser cache them. It notes
 * each request and the server's answer.
 */
async function startBasicAuthTier(target: string): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const ca = readSandboxCa(ts.server.config.derived.dataDir);
  const cert = await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 });
  const upstream = new HttpsAgent({ ca: caPem, keepAlive: true });
  const seen: Seen[] = [];
  const server = createHttpsServer({ cert: cert.chainPem, key: cert.keyPem }, (req, res) => {
    const entry: Seen = { method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization !== undefined, status: 401 };
    seen.push(entry);
    if (!req.headers.authorization) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="admin tier"', 'content-type': 'text/plain' }).end('credentials, please');
      return;
    }
    const up = httpsRequest(
      new URL(req.url ?? '/', target),
      { method: req.method, headers: req.headers, agent: upstream, servername: 'localhost' },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          const body = Buffer.concat(chunks);
          entry.status = answer.statusCode ?? 0;
          try {
            entry.code = (JSON.parse(body.toString('utf8')) as Record<string, unknown>)['code'];
          } catch {
            /* not JSON */
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers).end(body);
        });
      },
    );
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://localhost:${(server.address() as AddressInfo).port}`,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      upstream.destroy();
    },
  };
}

describe('in Chromium, with Basic credentials cached for the admin APIs', { skip: browserMissing() }, () => {
  let browser: Browser;
  let tier: Awaited<ReturnType<typeof startBasicAuthTier>>;
  let attacker: Server;
  let evil: string;

  before(async () => {
    browser = await launch();
    tier = await startBasicAuthTier(ts.url);
    // The attacker's site: another origin (127.0.0.1, plain HTTP), whose page the test scripts.
    attacker = createHttpServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Win a prize</title><p>Loading…</p>'),
    );
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    evil = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
  });
  after(async () => {
    await browser?.close();
    await tier?.close();
    await new Promise((resolve) => attacker?.close(resolve));
  });

  test('form posts, fetches and beacons from another site change nothing; the forms reached the server with the credentials and were refused', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, httpCredentials: { username: 'admin', password: 'admin', origin: tier.url } });
    try {
      const page = await context.newPage();
      // The tier asks once; the browser answers and keeps the credentials for the whole origin.
      assert.equal((await page.goto(`${tier.url}/health`))?.status(), 200);
      const held = await page.goto(`${tier.url}${OPS}/keys`);
      assert.equal(held?.status(), 200, 'the browser sends the cached credentials by itself');
      const before = await state();

      const targets: Array<[string, Record<string, string>]> = [
        [`${OPS}/keys/rotate`, { x: '1' }],
        [`${PUBLISHER}/apis/change-lifecycle?action=Publish&apiId=${apiId}`, { x: '1' }],
        [SCOPES, { name: 'csrf_scope' }],
        [`${OPS}/truststore`, { pem: (await createCertificateAuthority({ subject: 'CN=Evil Root', validityDays: 2 })).certPem, name: 'evil-root' }],
        [PLANS, { '{"policyName":"CSRF","defaultLimit":{"requestCount":{"timeUnit":"min","unitTime":1,"requestCount":1}},"x":"': '"}' }],
        [`${PUBLISHER}/apis/import-openapi`, { additionalProperties: IMPORT_PROPS, file: DOCUMENT }],
        ['/admin/api/session', { username: 'admin', password: 'admin' }],
      ];
      const tagged = (path: string, id: string) => `${tier.url}${path}${path.includes('?') ? '&' : '?'}attack=${id}`;
      const reached: string[] = [];
      const preflighted: string[] = [];

      // 1. Forms that submit themselves: each enctype, the document as a real file where there is one.
      for (const [t, [path, fields]] of targets.entries()) {
        for (const enctype of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
          const id = `form-${t}-${enctype.split('/')[1]}`;
          await page.goto(evil);
          const url = tagged(path, id);
          await Promise.all([
            page.waitForURL((u) => u.href.startsWith(tier.url), { waitUntil: 'commit' }),
            page.evaluate(
              ({ url, enctype, fields }) => {
                const { document, DataTransfer } = globalThis as unknown as BrowserGlobals;
                const form = document.createElement('form');
                form.method = 'POST';
                form.action = url;
                form.enctype = enctype;
                for (const [name, value] of Object.entries(fields)) {
                  if (name === 'file' && enctype === 'multipart/form-data') {
                    const input = document.createElement('input');
                    input.type = 'file';
                    input.name = name;
                    const files = new DataTransfer();
                    files.items.add(new File([value], 'api.yaml', { type: 'application/yaml' }));
                    input.files = files.files;
                    form.append(input);
                  } else {
                    const input = document.createElement('textarea');
                    input.name = name;
                    input.value = value;
                    form.append(input);
                  }
                }
                document.body.append(form);
                form.submit();
              },
              { url, enctype, fields },
            ),
          ]);
          await page.waitForLoadState();
          reached.push(id);
        }
      }

      // 2. fetch() with the browser's credentials: no-cors, and cors with a simple body (no preflight), each body kind; beacons.
      await page.goto(evil);
      const fired = await page.evaluate(
        async (targets) => {
          const { navigator } = globalThis as unknown as BrowserGlobals;
          const simple: Array<[string, (f: Record<string, string>) => string | URLSearchParams | FormData | Blob]> = [
            ['text', (f) => JSON.stringify(f)],
            ['urlencoded', (f) => new URLSearchParams(f)],
            [
              'multipart',
              (f) => {
                const d = new FormData();
                for (const [k, v] of Object.entries(f)) d.append(k, k === 'file' ? new File([v], 'api.yaml') : v);
                return d;
              },
            ],
            ['blob', (f) => new Blob([JSON.stringify(f)])],
          ];
          const out = { reached: [] as string[], preflighted: [] as string[] };
          for (const [t, [url, fields]] of targets.entries()) {
            for (const [kind, body] of simple) {
              for (const mode of ['no-cors', 'cors'] as const) {
                const id = `fetch-${mode}-${kind}-${t}`;
                await fetch(`${url}${url.includes('?') ? '&' : '?'}attack=${id}`, { method: 'POST', mode, credentials: 'include', body: body(fields) }).catch(
                  () => undefined,
                );
                out.reached.push(id);
              }
              const beacon = `beacon-${kind}-${t}`;
              if (navigator.sendBeacon(`${url}${url.includes('?') ? '&' : '?'}attack=${beacon}`, body(fields))) out.reached.push(beacon);
            }
            // Not simple: the browser asks first (a preflight, which the server never grants), and sends nothing else.
            for (const [kind, init] of [
              ['json', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields) }],
              ['header', { headers: { 'x-requested-with': 'XMLHttpRequest' }, body: 'x' }],
              ['put', { method: 'PUT', body: 'x' }],
              ['delete', { method: 'DELETE' }],
            ] as const) {
              const id = `preflight-${kind}-${t}`;
              await fetch(`${url}${url.includes('?') ? '&' : '?'}attack=${id}`, { method: 'POST', mode: 'cors', credentials: 'include', ...init }).catch(
                () => undefined,
              );
              out.preflighted.push(id);
            }
          }
          return out;
        },
        targets.map(([path, fields]): [string, Record<string, string>] => [`${tier.url}${path}`, fields]),
      );
      reached.push(...fired.reached);
      preflighted.push(...fired.preflighted);

      // Beacons are sent in the background: wait until each has arrived.
      const arrived = (id: string) => tier.seen.some((s) => s.url.includes(`attack=${id}`) && s.method === 'POST');
      for (let i = 0; i < 100 && !reached.every(arrived); i++) await sleep(100);

      for (const id of reached) {
        const hits = tier.seen.filter((s) => s.url.includes(`attack=${id}`) && s.method !== 'OPTIONS');
        assert.ok(hits.length > 0, `${id} was sent`);
        // Top-level form posts carry the cached credentials; Chromium keeps them from fetches and
        // beacons of another site (its credential cache is partitioned by the top-level site), which
        // the tier then turns away. Whatever came with them, the server refused.
        if (id.startsWith('form-'))
          assert.ok(
            hits.every((h) => h.authorization),
            `${id} carried the cached Basic credentials`,
          );
        for (const hit of hits.filter((h) => h.authorization)) assert.deepEqual([hit.status, hit.code], [403, 'ADMIN_CROSS_SITE'], id);
      }
      for (const id of preflighted) {
        assert.deepEqual(
          tier.seen.filter((s) => s.url.includes(`attack=${id}`) && s.method !== 'OPTIONS'),
          [],
          `${id}: only a preflight`,
        );
      }
      assert.ok(reached.length >= 7 * 3 + 7 * 4 * 3, `${reached.length} cross-site requests sent`);
      assert.deepEqual(await state(), before, 'nothing changed');
    } finally {
      await context.close();
    }
  });

  test('the server never asks Chromium for Basic credentials: no prompt, no credentials to cache', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, httpCredentials: { username: 'admin', password: 'admin' } });
    try {
      const page = await context.newPage();
      for (const path of [`${OPS}/keys`, `${PUBLISHER}/apis`, SCOPES]) {
        const res = await page.goto(`${ts.url}${path}`);
        assert.equal(res?.status(), 401, path);
        assert.equal((await res!.allHeaders())['www-authenticate'], undefined, path);
        assert.equal(res!.request().headers()['authorization'], undefined, `${path}: the browser was never asked, so it sent nothing`);
      }
    } finally {
      await context.close();
    }
  });
});
