/**
 * A bank's own OpenID provider for the tests of `[psu] identity_provider`: oidc-provider over
 * HTTPS (its certificate from the test server's sandbox CA, which the server's outbound fetch
 * trusts), with a confidential client for OpenDCR (client_secret_basic, PS256 ID tokens), its own
 * sign-in page (user name, password, "Sign in" or "Cancel") and the `acr` of strong customer
 * authentication. It can tamper with the ID tokens it issues (another nonce, issuer, audience,
 * no acr: re-signed with its own key), and it can be started late, to stand for a provider that is down.
 */
import { createServer, type Server } from 'node:https';
import Provider from 'oidc-provider';
import { decodeJwt, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import type { ClientTls } from './server.ts';

export const BANK_IDP_CLIENT = { client_id: 'opendcr-psu', client_secret: 'opendcr-psu-secret-0123456789abcdef' } as const;
export const BANK_SCA = 'urn:bank.example:sca';

export interface BankIdp {
  readonly issuer: string;
  /** Sign-ins made (user names), in order. */
  readonly signIns: string[];
  /** The next ID tokens get these claims changed (undefined removes one), re-signed; null stops tampering. */
  tamper(changes: Record<string, unknown> | null): void;
  close(): Promise<void>;
}

export interface BankIdpOptions {
  readonly port: number;
  readonly serverTls: ClientTls;
  /** OpenDCR's base URL: its callback is the client's redirect URI. */
  readonly opendcr: string;
  /** User name → password. */
  readonly users: Readonly<Record<string, string>>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid: string, error?: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bank sign-in</title></head><body><main>
<h1>Example Bank sign-in</h1>
${error ? `<p role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<label for="u">Customer number</label><input id="u" name="username" required>
<label for="p">Passcode</label><input id="p" name="password" type="password" required>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/cancel"><button type="submit">Cancel</button></form>
</main></body></html>`;
}

async function readForm(req: import('node:http').IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export async function startBankIdp(opts: BankIdpOptions): Promise<BankIdp> {
  const issuer = `https://localhost:${opts.port}`;
  const { privateKey } = await generateKeyPair('PS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: 'bank-ps256', alg: 'PS256', use: 'sig' };
  const signingKey = await importJWK(jwk, 'PS256');
  const provider = new Provider(issuer, {
    clients: [
      {
        ...BANK_IDP_CLIENT,
        redirect_uris: [`${opts.opendcr.replace(/\/$/, '')}/psu/sign-in/callback`],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'PS256',
      },
    ],
    jwks: { keys: [jwk] },
    acrValues: [BANK_SCA],
    claims: { openid: ['sub'], acr: null },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id }) }),
    ttl: { Session: 600, Interaction: 600, Grant: 600, AuthorizationCode: 60, IdToken: 300, AccessToken: 300 },
  } as never);
  const signIns: string[] = [];
  let tampering: Record<string, unknown> | null = null;
  const callback = provider.callback();

  /** Rewrites the ID token of a token response: `changes` applied, signed again with the provider's key. */
  async function tampered(body: string): Promise<string> {
    const json = JSON.parse(body) as { id_token?: string };
    if (!json.id_token || !tampering) return body;
    const claims: Record<string, unknown> = { ...decodeJwt(json.id_token) };
    for (const [k, v] of Object.entries(tampering)) {
      if (v === undefined) delete claims[k];
      else claims[k] = v;
    }
    json.id_token = await new SignJWT(claims).setProtectedHeader({ alg: 'PS256', kid: 'bank-ps256' }).sign(signingKey);
    return JSON.stringify(json);
  }

  const server: Server = createServer({ cert: opts.serverTls.certPem, key: opts.serverTls.keyPem }, (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', issuer);
      const m = /^\/interaction\/([^/]+)(?:\/(login|cancel))?$/.exec(url.pathname);
      if (m) {
        const details = await provider.interactionDetails(req, res);
        if (!m[2]) {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          res.end(loginPage(details.uid));
          return;
        }
        if (m[2] === 'cancel') {
          await provider.interactionFinished(
            req,
            res,
            { error: 'access_denied', error_description: 'the customer cancelled' },
            { mergeWithLastSubmission: false },
          );
          return;
        }
        const form = await readForm(req);
        const username = form.get('username') ?? '';
        if (opts.users[username] === undefined || opts.users[username] !== form.get('password')) {
          res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' });
          res.end(loginPage(details.uid, 'That customer number or passcode is not right.'));
          return;
        }
        signIns.push(username);
        const grant = new provider.Grant({ accountId: username, clientId: BANK_IDP_CLIENT.client_id });
        grant.addOIDCScope('openid');
        const grantId = await grant.save();
        await provider.interactionFinished(
          req,
          res,
          { login: { accountId: username, acr: BANK_SCA, amr: ['pwd', 'otp'] }, consent: { grantId } },
          { mergeWithLastSubmission: false },
        );
        return;
      }
      if (url.pathname === '/token' && tampering) {
        // The provider answers; its ID token is swapped before it leaves.
        const end = res.end.bind(res);
        const chunks: Buffer[] = [];
        res.write = ((chunk: unknown) => {
          chunks.push(Buffer.from(chunk as Buffer));
          return true;
        }) as typeof res.write;
        res.end = ((chunk?: unknown) => {
          if (chunk) chunks.push(Buffer.from(chunk as Buffer));
          void tampered(Buffer.concat(chunks).toString('utf8')).then((body) => {
            res.setHeader('content-length', Buffer.byteLength(body));
            end(body);
          });
          return res;
        }) as typeof res.end;
      }
      await callback(req, res);
    })().catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port, '127.0.0.1', resolve));
  return {
    issuer,
    signIns,
    tamper: (changes) => {
      tampering = changes;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
