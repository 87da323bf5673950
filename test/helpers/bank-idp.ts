/**
 * The bank's own OpenID provider for the tests of `[psu] identity_provider`: the demo's throw-away
 * provider (src/cli/demo-idp.ts) over HTTPS with a certificate from the test server's sandbox CA
 * (which the server's outbound fetch trusts), able to tamper with the ID tokens it issues (another
 * nonce, issuer, audience, no acr: re-signed with its own key). It can be started late, to stand
 * for a provider that is down.
 */
import { decodeJwt } from 'jose';
import { DEMO_IDP_SCA, startDemoIdp, type DemoIdp } from '../../src/oauth/demo-idp.ts';
import type { ClientTls } from './server.ts';

export const BANK_IDP_CLIENT = { client_id: 'opendcr-psu', client_secret: 'opendcr-psu-secret-0123456789abcdef' } as const;
export const BANK_SCA = DEMO_IDP_SCA;

export interface BankIdp extends DemoIdp {
  /** The next ID tokens get these claims changed (undefined removes one), re-signed; null stops tampering. */
  tamper(changes: Record<string, unknown> | null): void;
}

export async function startBankIdp(opts: {
  readonly port: number;
  readonly serverTls: ClientTls;
  readonly opendcr: string;
  readonly users: Readonly<Record<string, string>>;
  readonly keyClient?: { readonly client_id: string; readonly jwks: { readonly keys: readonly import('jose').JWK[] } };
}): Promise<BankIdp> {
  let tampering: Record<string, unknown> | null = null;
  const idp = await startDemoIdp({
    port: opts.port,
    certPem: opts.serverTls.certPem,
    keyPem: opts.serverTls.keyPem,
    opendcr: opts.opendcr,
    client: BANK_IDP_CLIENT,
    users: opts.users,
    keyClient: opts.keyClient,
    rewriteToken: async (body, sign) => {
      const json = JSON.parse(body) as { id_token?: string };
      if (!json.id_token || !tampering) return body;
      const claims: Record<string, unknown> = { ...decodeJwt(json.id_token) };
      for (const [k, v] of Object.entries(tampering)) {
        if (v === undefined) delete claims[k];
        else claims[k] = v;
      }
      json.id_token = await sign(claims);
      return JSON.stringify(json);
    },
  });
  return {
    ...idp,
    tamper: (changes) => {
      tampering = changes;
    },
  };
}
