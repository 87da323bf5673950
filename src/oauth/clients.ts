/**
 * Client records in the key manager. Metadata is validated by oidc-provider's own client schema
 * (the same rules its registration endpoint applies) before it is stored. Writes take part in the
 * caller's unit of work (Storage.transaction), so a registration's client, its registration row,
 * its request jti and its audit row are committed together or not at all.
 */
import { randomUUID } from 'node:crypto';
import { errors as oidcErrors } from 'oidc-provider';
import type { KeyManagerInternals } from './service.ts';
import type { Config } from '../config/schema.ts';
import type { SharedState } from '../shared-state/ports.ts';
import { markClientRevoked } from './revocation.ts';
import type { Storage, UnitOfWork } from '../storage/ports.ts';
import { fail } from '../errors/app-error.ts';

export type ClientMetadata = Record<string, unknown>;

/** A registration access token whose record is written by `save`, inside the caller's unit of work. */
export interface PendingToken {
  readonly value: string;
  save(tx: UnitOfWork): Promise<void>;
}

export interface ClientService {
  /** Throws invalid_client_metadata (with oidc-provider's description) when the key manager would refuse it. */
  validate(metadata: ClientMetadata): Promise<void>;
  /** The client as the key manager sees it (client_secret included for secret-based methods). */
  find(clientId: string): Promise<ClientMetadata | undefined>;
  /** The client as the key manager and the TPP see it: a secret-based client with its client_secret. */
  view(record: ClientMetadata): ClientMetadata;
  /** Stores a validated client record (new or replacing one) as part of `tx`. */
  write(tx: UnitOfWork, record: ClientMetadata): Promise<void>;
  /** Deletes the client record and every token, code and grant issued to it, as part of `tx`. */
  remove(tx: UnitOfWork, clientId: string): Promise<void>;
  /**
   * Marks the self-contained (JWT) tokens of a removed client revoked until they expire, in the
   * shared state; call it once the unit that removed the client has committed.
   */
  markRevoked(clientId: string): Promise<void>;
  /** A new RFC 7592 registration access token for the client, stored when `save(tx)` commits. */
  registrationAccessToken(clientId: string): Promise<PendingToken>;
  /** Validates and stores a client in a unit of its own; assigns a client_id (UUID) when absent. */
  create(metadata: ClientMetadata): Promise<ClientMetadata>;
  /** Deletes a client and what was issued to it in a unit of its own; false when there was none. */
  delete(clientId: string): Promise<boolean>;
}

interface RatModel {
  jti?: string;
  generateTokenId(): string;
  getValueAndPayload(): Promise<{ value: string; payload: Record<string, unknown> }>;
}

export function createClientService(deps: {
  keyManager: KeyManagerInternals;
  storage: Storage;
  shared: Pick<SharedState, 'mark'>;
  config: Config;
  now?: () => number;
}): ClientService {
  const { keyManager: km, storage, config } = deps;
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const secrets = km.clientSecrets;
  const validate = async (m: ClientMetadata) => {
    try {
      // As oidc-provider will see it: with the derived secret when the method needs one.
      await (km.provider.Client as unknown as { validate(m: ClientMetadata): Promise<void> }).validate(secrets.expose({ client_id: 'validation', ...m }));
    } catch (err) {
      if (err instanceof oidcErrors.InvalidClientMetadata || err instanceof oidcErrors.InvalidRedirectUri) {
        throw fail('METADATA_REFUSED', String((err as { error_description?: string }).error_description ?? 'client metadata is invalid'), { cause: err });
      }
      throw err;
    }
  };
  // Stored without any secret (client-secrets.ts derives it on every read).
  const write = (tx: UnitOfWork, record: ClientMetadata) => tx.oidc.upsert('Client', String(record['client_id']), secrets.conceal(record), null);
  const remove = async (tx: UnitOfWork, clientId: string) => {
    await tx.oidc.destroy('Client', clientId);
    await tx.oidc.revokeByClientId(clientId);
  };

  return {
    validate,
    view: (record) => secrets.expose(record),
    find: async (clientId) => {
      const found = await storage.oidc.find('Client', clientId);
      return found === undefined ? undefined : secrets.expose(found.payload);
    },
    write,
    remove,
    markRevoked: (clientId) => markClientRevoked(deps.shared, config, clientId, now()),
    async registrationAccessToken(clientId) {
      // oidc-provider builds the token (id, payload, lifetime) as its own save() would; the
      // record is written by the caller's unit of work instead of through the adapter.
      const Rat = km.provider.RegistrationAccessToken as unknown as new (p: { clientId: string }) => RatModel;
      const rat = new Rat({ clientId });
      rat.jti = rat.generateTokenId();
      const { value, payload } = await rat.getValueAndPayload();
      const id = rat.jti;
      const expiresAt = typeof payload['exp'] === 'number' ? payload['exp'] : null;
      return { value, save: (tx) => tx.oidc.upsert('RegistrationAccessToken', id, payload, expiresAt) };
    },
    async create(metadata) {
      const record = { client_id: randomUUID(), client_id_issued_at: now(), ...metadata };
      await validate(record);
      await storage.transaction('clients.create', (tx) => write(tx, record));
      return secrets.expose(record);
    },
    async delete(clientId) {
      const existed = await storage.transaction('clients.delete', async (tx) => {
        const found = (await tx.oidc.find('Client', clientId)) !== undefined;
        await remove(tx, clientId);
        return found;
      });
      if (existed) await markClientRevoked(deps.shared, config, clientId, now());
      return existed;
    },
  };
}
