/**
 * oidc-provider (v9) adapter over storage/ports.ts. oidc-provider builds one adapter per model
 * name; every model (Session, AccessToken, AuthorizationCode, RefreshToken, ClientCredentials,
 * Client, InitialAccessToken, RegistrationAccessToken, DeviceCode,
 * BackchannelAuthenticationRequest, Interaction, ReplayDetection, PushedAuthorizationRequest,
 * Grant, PreAuthorizedCode) lands in the same OidcModelStore, keyed by (model, id).
 * Contract: node_modules/oidc-provider/lib/adapters/memory_adapter.js.
 */
import type { OidcModelStore, OidcRecord } from '../storage/ports.ts';
import { providerCall } from './unavailable.ts';
import { clientRecordOfRequest } from './request-clients.ts';

/** The model names oidc-provider v9 persists through its adapter. */
export const OIDC_MODEL_NAMES = [
  'Session',
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'ClientCredentials',
  'Client',
  'InitialAccessToken',
  'RegistrationAccessToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'Interaction',
  'ReplayDetection',
  'PushedAuthorizationRequest',
  'Grant',
  'PreAuthorizedCode',
] as const;

/** A stored model as oidc-provider hands it over; the fields named here are the ones it indexes by. */
export interface AdapterPayload {
  [claim: string]: unknown;
  grantId?: string;
  uid?: string;
  userCode?: string;
  /** Epoch seconds when consumed. */
  consumed?: number;
}

/** What oidc-provider calls on an adapter (it ships no types; this is the v9 contract). */
export interface OidcAdapter {
  /** `expiresIn` is seconds from now; undefined means the record never expires (Client). */
  upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<AdapterPayload | undefined>;
  findByUid(uid: string): Promise<AdapterPayload | undefined>;
  findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

/** The provider `adapter` option: oidc-provider calls it (not `new`) once per model name. */
export type OidcAdapterFactory = (name: string) => OidcAdapter;

const toPayload = (record: OidcRecord | undefined): AdapterPayload | undefined => {
  if (record === undefined) return undefined;
  // The store keeps `consumed` in a column too; surface it even if the payload lacks it.
  return record.consumed === undefined || record.payload['consumed'] !== undefined ? record.payload : { ...record.payload, consumed: record.consumed };
};

/**
 * Returns the factory to pass as oidc-provider's `adapter` option. `readClient` turns a stored
 * Client record into what oidc-provider gets (client-secrets.ts adds derived secrets).
 * `now` is epoch seconds and turns `expiresIn` into an absolute expiry and stamps `consumed`;
 * the store hides expired records itself, so give the storage the same clock.
 * The factory is a plain arrow function on purpose: oidc-provider calls non-constructable
 * functions instead of `new`-ing them, and rejects async functions.
 */
export function createOidcAdapter(
  store: OidcModelStore,
  now: () => number,
  opts: { readClient?: (payload: AdapterPayload) => AdapterPayload } = {},
): OidcAdapterFactory {
  return (name: string): OidcAdapter => {
    if (typeof name !== 'string' || name === '') throw new TypeError('adapter model name is required');
    const read = name === 'Client' && opts.readClient ? opts.readClient : (p: AdapterPayload) => p;
    // A database outage answers 503 (oauth/unavailable.ts), not oidc-provider's 500.
    return {
      upsert: (id, payload, expiresIn) =>
        providerCall(async () => {
          const expiresAt = typeof expiresIn === 'number' && Number.isFinite(expiresIn) ? now() + expiresIn : null;
          await store.upsert(name, id, payload, expiresAt);
        }),
      find: (id) =>
        providerCall(async () => {
          // A client the request guard has just read for this request (oauth/request-clients.ts).
          const kept = name === 'Client' ? clientRecordOfRequest(id) : undefined;
          if (kept) return kept;
          const payload = toPayload(await store.find(name, id));
          return payload === undefined ? undefined : read(payload);
        }),
      findByUid: (uid) => providerCall(async () => toPayload(await store.findByUid(name, uid))),
      findByUserCode: (userCode) => providerCall(async () => toPayload(await store.findByUserCode(name, userCode))),
      consume: (id) => providerCall(() => store.consume(name, id, now())),
      destroy: (id) => providerCall(() => store.destroy(name, id)),
      // oidc-provider calls this on one model (e.g. RefreshToken on reuse) but means the whole
      // grant: the store drops every model's records carrying that grantId.
      revokeByGrantId: (grantId) => providerCall(() => store.revokeByGrantId(grantId)),
    };
  };
}
