/**
 * Client records in the key manager. Metadata is validated by oidc-provider's own client schema
 * (the same rules its registration endpoint applies) before it is stored.
 */
import { randomUUID } from 'node:crypto';
import { errors as oidcErrors } from 'oidc-provider';
import type { KeyManagerService } from './service.ts';
import { invalidClientMetadata } from '../errors/oauth-errors.ts';

export type ClientMetadata = Record<string, unknown>;

export interface ClientService {
  /** Throws invalid_client_metadata (with oidc-provider's description) when the key manager would refuse it. */
  validate(metadata: ClientMetadata): Promise<void>;
  /** Validates and stores a client; assigns a client_id (UUID, 36 characters) when absent. */
  create(metadata: ClientMetadata): Promise<ClientMetadata>;
  /** Replaces the metadata of an existing client, keeping client_id and client_id_issued_at. */
  update(clientId: string, metadata: ClientMetadata): Promise<ClientMetadata>;
  find(clientId: string): Promise<ClientMetadata | undefined>;
  /** Removes the client record (its tokens are revoked separately, through storage). */
  remove(clientId: string): Promise<boolean>;
}

interface ClientAdapter {
  upsert(id: string, p: ClientMetadata): Promise<void>;
  find(id: string): Promise<ClientMetadata | undefined>;
  destroy(id: string): Promise<void>;
}

export function createClientService(km: KeyManagerService, now: () => number = () => Math.floor(Date.now() / 1000)): ClientService {
  const adapter = () => (km.provider.Client as unknown as { adapter: ClientAdapter }).adapter;
  const validate = async (m: ClientMetadata) => {
    try {
      await (km.provider.Client as unknown as { validate(m: ClientMetadata): Promise<void> }).validate(m);
    } catch (err) {
      if (err instanceof oidcErrors.InvalidClientMetadata || err instanceof oidcErrors.InvalidRedirectUri) {
        throw invalidClientMetadata(String((err as { error_description?: string }).error_description ?? 'client metadata is invalid'), { cause: err });
      }
      throw err;
    }
  };

  return {
    validate,
    async create(metadata) {
      const record = { client_id: randomUUID(), client_id_issued_at: now(), ...metadata };
      await validate(record);
      await adapter().upsert(String(record.client_id), record);
      return record;
    },
    async update(clientId, metadata) {
      const current = await adapter().find(clientId);
      if (!current) throw new Error(`client ${clientId} does not exist`);
      const record = { ...metadata, client_id: clientId, client_id_issued_at: current['client_id_issued_at'] };
      await validate(record);
      await adapter().upsert(clientId, record);
      return record;
    },
    find: (clientId) => adapter().find(clientId),
    async remove(clientId) {
      const current = await adapter().find(clientId);
      if (!current) return false;
      await adapter().destroy(clientId);
      return true;
    },
  };
}
