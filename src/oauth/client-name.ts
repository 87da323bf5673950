/**
 * The name a TPP's application shows its customers: the client's name, else its software
 * statement's software_client_name (as registered through DCR).
 */
import type { KeyManagerInternals } from './service.ts';

/** The display name of a client oidc-provider found, when it has one. */
export function nameOfClient(client: unknown): string | undefined {
  const meta = client as Record<string, unknown> | undefined;
  const name = meta?.['clientName'] ?? meta?.['software_client_name'];
  return typeof name === 'string' && name.length > 0 ? name : undefined;
}

/** The display name of `clientId`, when this key manager knows the client. */
export async function clientName(km: Pick<KeyManagerInternals, 'provider'>, clientId: string): Promise<string | undefined> {
  return nameOfClient(await km.provider.Client.find(clientId));
}
