/**
 * Clients on our server: the bench TPP registered through the real DCR endpoint, and bulk
 * clients written straight into the database (while the server is stopped) to show that the
 * token rate does not depend on how many clients are registered.
 */
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import type { JsonWebKey } from 'node:crypto';
import { openStorage } from '../../src/storage/index.ts';
import { createSqliteOidcStore } from '../../src/storage/sqlite/oidc-store.ts';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import type { BodySpec } from './assertions.ts';
import { httpsCall, type OurSetup } from './setup.ts';

export const DCR_PATH = '/open-banking/v3.3/register';
export const SCOPE = 'accounts';

/**
 * The registration request claims (OB DCR v3.3) for a client_credentials, private_key_jwt client;
 * with `psu`, one that may also ask a PSU (authorization code, code id_token) for `openid accounts`.
 */
export function registrationClaims(setup: OurSetup, ssa: string, psu = false): Record<string, unknown> {
  return {
    aud: `${setup.baseUrl}${DCR_PATH}`,
    software_id: setup.tpp.softwareId,
    software_statement: ssa,
    redirect_uris: [setup.tpp.redirectUris[0]],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'PS256',
    grant_types: psu ? ['client_credentials', 'authorization_code', 'refresh_token'] : ['client_credentials'],
    ...(psu ? { response_types: ['code id_token'] } : {}),
    scope: psu ? `openid ${SCOPE}` : SCOPE,
    application_type: 'web',
    id_token_signed_response_alg: 'PS256',
    request_object_signing_alg: 'PS256',
  };
}

/** The DCR body spec for the load generator: one SSA, a fresh jti per request. */
export async function registrationSpec(setup: OurSetup): Promise<BodySpec> {
  const { tpp } = setup;
  return {
    kind: 'dcr-request',
    claims: registrationClaims(setup, await tpp.mintSsa()),
    iss: tpp.softwareId,
    kid: tpp.signingKey.kid,
    privateJwk: privateJwk(tpp),
  };
}

export function privateJwk(tpp: SandboxTpp): JsonWebKey {
  return tpp.signingKey.key.export({ format: 'jwk' });
}

/** Registers the bench TPP over mutual TLS (`psu`: for PSU tokens too); returns its client_id. */
export async function registerTpp(setup: OurSetup, ca: string, psu = false): Promise<string> {
  const body = await setup.tpp.signRequest(registrationClaims(setup, await setup.tpp.mintSsa(), psu));
  const res = await httpsCall({
    port: setup.port,
    method: 'POST',
    path: DCR_PATH,
    body,
    ca,
    tls: setup.tppTls,
    headers: { 'content-type': 'application/jose', accept: 'application/json' },
  });
  if (res.status !== 201) throw new Error(`registration failed (HTTP ${res.status}): ${res.body}`);
  return String((JSON.parse(res.body) as { client_id: string }).client_id);
}

/**
 * Tops the stopped server's database up to `total` clients with copies of client `templateId`
 * (a new client_id each), through the SQLite OIDC store in one transaction. Returns the number
 * of clients before and after.
 */
export async function fillClients(setup: OurSetup, templateId: string, total: number): Promise<{ before: number; after: number }> {
  const path = join(setup.dataDir, 'opendcr.db');
  // openStorage first: it migrates the schema, exactly as the server would.
  const storage = await openStorage({ url: `sqlite:${path}`, poolSize: 1, busyTimeoutMs: 5000 });
  const template = (await storage.oidc.find('Client', templateId))?.payload;
  await storage.close();
  if (!template) throw new Error(`client ${templateId} not found`);
  const db = new DatabaseSync(path);
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    const store = createSqliteOidcStore(db, () => Math.floor(Date.now() / 1000));
    const before = (await store.listIds('Client', 100_000_000)).length;
    db.exec('BEGIN IMMEDIATE');
    for (let i = before; i < total; i++) {
      const clientId = randomUUID();
      await store.upsert('Client', clientId, { ...template, client_id: clientId }, null);
    }
    db.exec('COMMIT');
    return { before, after: (await store.listIds('Client', 100_000_000)).length };
  } finally {
    if (db.isTransaction) db.exec('ROLLBACK');
    db.close();
  }
}
