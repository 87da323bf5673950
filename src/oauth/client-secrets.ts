/**
 * Secrets of clients registered with a secret-based token endpoint method (client_secret_basic,
 * when a deployment enables it for TPPs). Nothing secret is stored with the client: its secret is
 * an HMAC of its client_id under a server key held apart from the client records (in the shared
 * meta store), recomputed whenever the key manager loads the client. So the secret stays the same
 * across PUTs, can be returned on GET (OB DCR: client_secret in every registration response),
 * and oidc-provider compares it in constant time as it does any client_secret.
 */
import { createHmac } from 'node:crypto';

/** OB data dictionary: client_secret is string(36). 36 base64url characters carry 216 bits. */
export const CLIENT_SECRET_LENGTH = 36;

const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);

/** The stored form never carries these; they are derived on every read. */
const DERIVED = ['client_secret', 'client_secret_expires_at'] as const;

export interface ClientSecrets {
  /** The client's secret. */
  secretOf(clientId: string): string;
  /** The client as the key manager and the TPP see it: with client_secret and client_secret_expires_at (0: never) when its method uses one. */
  expose(record: Record<string, unknown>): Record<string, unknown>;
  /** The client as stored: without them. */
  conceal(record: Record<string, unknown>): Record<string, unknown>;
}

export function createClientSecrets(key: Buffer): ClientSecrets {
  if (key.length < 32) throw new RangeError('the client secret key must have at least 32 bytes');
  const secretOf = (clientId: string) => createHmac('sha256', key).update(`client_secret\n${clientId}`).digest('base64url').slice(0, CLIENT_SECRET_LENGTH);
  const conceal = (record: Record<string, unknown>) => {
    if (!DERIVED.some((k) => k in record)) return record;
    const out = { ...record };
    for (const k of DERIVED) delete out[k];
    return out;
  };
  return {
    secretOf,
    conceal,
    expose(record) {
      const stored = conceal(record);
      const method = stored['token_endpoint_auth_method'];
      if (typeof method !== 'string' || !SECRET_METHODS.has(method) || typeof stored['client_id'] !== 'string') return stored;
      return { ...stored, client_secret: secretOf(stored['client_id']), client_secret_expires_at: 0 };
    },
  };
}
