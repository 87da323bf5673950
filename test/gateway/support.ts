/** What gateway tests share: the official API files, admin calls (WSO2 shapes), importing and publishing. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormData } from 'undici';

export const SPEC = new URL('../../specs/', import.meta.url);
export const OB_FILES = {
  accounts: new URL('ob-read-write-openapi/v3.1.11/account-info-openapi.yaml', SPEC),
  payments: new URL('ob-read-write-openapi/v3.1.11/payment-initiation-openapi.yaml', SPEC),
  funds: new URL('ob-read-write-openapi/v3.1.11/confirmation-funds-openapi.yaml', SPEC),
  vrp: new URL('ob-read-write-openapi/v3.1.11/vrp-openapi.yaml', SPEC),
} as const;

export const basicAuth = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
export const ADMIN = basicAuth('admin', 'admin');

/** The fetch of a test server or host (path relative to its URL). */
export type ServerFetch = (path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }) => Promise<Response>;

export async function jsonOf(res: Response, status: number): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, status, text.slice(0, 800));
  return JSON.parse(text) as Record<string, unknown>;
}

/** A multipart import body: the document in `field`, WSO2's additionalProperties beside it. */
export function importForm(field: string, document: string | Buffer | URL, props: Record<string, unknown>): FormData {
  const form = new FormData();
  form.set(field, new Blob([document instanceof URL ? readFileSync(document) : document]), 'api');
  form.set('additionalProperties', JSON.stringify(props));
  return form;
}

/** Imports `document` with `backend` (and other WSO2 additionalProperties), publishes it, returns the API. */
export async function publishApi(fetch: ServerFetch, document: string | Buffer | URL, backend: string, props: Record<string, unknown> = {}, admin = ADMIN): Promise<Record<string, unknown>> {
  const api = await jsonOf(await fetch('/api/am/publisher/v4/apis/import-openapi', {
    method: 'POST', headers: { authorization: admin, 'x-requested-with': 'test' },
    body: importForm('file', document, { endpointConfig: { production_endpoints: { url: backend } }, ...props }),
  }), 201);
  const done = await jsonOf(await fetch(`/api/am/publisher/v4/apis/change-lifecycle?action=Publish&apiId=${String(api['id'])}`, { method: 'POST', headers: { authorization: admin, 'x-requested-with': 'test' } }), 200);
  assert.deepEqual(done['lifecycleState'], { state: 'PUBLISHED' });
  return api;
}

/** Adds a business plan of `requestCount` per `timeUnit`. */
export async function addPlan(fetch: ServerFetch, name: string, requestCount: number, timeUnit: string, admin = ADMIN): Promise<void> {
  await jsonOf(await fetch('/api/am/admin/v4/throttling/policies/subscription', {
    method: 'POST', headers: { authorization: admin, 'content-type': 'application/json' },
    body: JSON.stringify({ policyName: name, defaultLimit: { requestCount: { timeUnit, unitTime: 1, requestCount } } }),
  }), 201);
}

/** The subscriptions of an application (a DCR client id). */
export async function subscriptionsOf(fetch: ServerFetch, clientId: string, admin = ADMIN): Promise<Array<Record<string, unknown>>> {
  return (await jsonOf(await fetch(`/api/am/devportal/v3/subscriptions?applicationId=${clientId}`, { headers: { authorization: admin } }), 200))['list'] as Array<Record<string, unknown>>;
}
