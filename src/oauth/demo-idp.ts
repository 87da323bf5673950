/**
 * A throw-away identity provider standing for a bank's own (`npm run demo -- --production-psu`,
 * and the tests of `[psu] identity_provider`): oidc-provider over HTTPS with a confidential client
 * for OpenDCR (client_secret_basic, PS256 ID tokens), its own sign-in page (customer number and
 * passcode, "Sign in" or "Cancel") and the `acr` of strong customer authentication. Its state is
 * in memory: it is gone when it stops, as a demo's should be. Not a product part: a bank brings
 * its own provider (docs/consents.md#the-banks-sign-in). It lives in src/oauth because
 * oidc-provider is used nowhere else.
 */
import { createServer, type Server } from 'node:https';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

/** The acr its sign-in reports: strong customer authentication (customer number, passcode and the one-time code it stands for). */
export const DEMO_IDP_SCA = 'urn:bank.example:sca';

export interface DemoIdp {
  readonly issuer: string;
  /** Sign-ins made (customer numbers), in order. */
  readonly signIns: string[];
  close(): Promise<void>;
}

export interface DemoIdpOptions {
  readonly port: number;
  /** Its TLS certificate chain and key (PEM). */
  readonly certPem: string;
  readonly keyPem: string;
  /** OpenDCR's base URL: its callback is the client's redirect URI. */
  readonly opendcr: string;
  readonly client: { readonly client_id: string; readonly client_secret: string };
  /** Another client for OpenDCR that authenticates with private_key_jwt (PS256), by its public keys. */
  readonly keyClient?: { readonly client_id: string; readonly jwks: { readonly keys: readonly JWK[] } } | undefined;
  /** Customer number → passcode. */
  readonly users: Readonly<Record<string, string>>;
  /** Rewrites a token response's body before it leaves (the tests' tampered ID tokens); its signing key is given. */
  readonly rewriteToken?: ((body: string, sign: (claims: Record<string, unknown>) => Promise<string>) => Promise<string>) | undefined;
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

/** Its state, in this process only (a throw-away provider): oidc-provider's model store over one Map. */
function memoryAdapter() {
  const all = new Map<string, { payload: Record<string, unknown>; expiresAt: number }>();
  return class MemoryAdapter {
    readonly #model: string;
    constructor(model: string) {
      this.#model = model;
    }
    #key = (id: string) => `${this.#model}:${id}`;
    #live(key: string) {
      const e = all.get(key);
      if (e && e.expiresAt <= Date.now()) all.delete(key);
      return all.get(key)?.payload;
    }
    async upsert(id: string, payload: Record<string, unknown>, expiresIn: number) {
      all.set(this.#key(id), { payload, expiresAt: Date.now() + expiresIn * 1000 });
    }
    async find(id: string) {
      return this.#live(this.#key(id));
    }
    async findByUid(uid: string) {
      for (const [k, e] of all) if (k.startsWith(`${this.#model}:`) && e.payload['uid'] === uid) return this.#live(k);
      return undefined;
    }
    async findByUserCode(userCode: string) {
      for (const [k, e] of all) if (k.startsWith(`${this.#model}:`) && e.payload['userCode'] === userCode) return this.#live(k);
      return undefined;
    }
    async consume(id: string) {
      const e = all.get(this.#key(id));
      if (e) e.payload['consumed'] = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      all.delete(this.#key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [k, e] of all) if (e.payload['grantId'] === grantId) all.delete(k);
    }
  };
}

export async function startDemoIdp(opts: DemoIdpOptions): Promise<DemoIdp> {
  const issuer = `https://localhost:${opts.port}`;
  const { privateKey } = await generateKeyPair('PS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: 'bank-ps256', alg: 'PS256', use: 'sig' };
  const signingKey = await importJWK(jwk, 'PS256');
  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    clients: [
      {
        ...opts.client,
        redirect_uris: [`${opts.opendcr.replace(/\/$/, '')}/psu/sign-in/callback`],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'PS256',
      },
      ...(opts.keyClient
        ? [
            {
              client_id: opts.keyClient.client_id,
              jwks: opts.keyClient.jwks,
              redirect_uris: [`${opts.opendcr.replace(/\/$/, '')}/psu/sign-in/callback`],
              response_types: ['code'],
              grant_types: ['authorization_code'],
              token_endpoint_auth_method: 'private_key_jwt',
              token_endpoint_auth_signing_alg: 'PS256',
              id_token_signed_response_alg: 'PS256',
            },
          ]
        : []),
    ],
    jwks: { keys: [jwk] },
    acrValues: [DEMO_IDP_SCA],
    claims: { openid: ['sub'], acr: null },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id }) }),
    ttl: { Session: 600, Interaction: 600, Grant: 600, AuthorizationCode: 60, IdToken: 300, AccessToken: 300 },
  } as never);
  const signIns: string[] = [];
  const callback = provider.callback();
  const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'PS256', kid: 'bank-ps256' }).sign(signingKey);

  const server: Server = createServer({ cert: opts.certPem, key: opts.keyPem }, (req, res) => {
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
        const grant = new provider.Grant({ accountId: username, clientId: String(details.params['client_id']) });
        grant.addOIDCScope('openid');
        const grantId = await grant.save();
        await provider.interactionFinished(
          req,
          res,
          { login: { accountId: username, acr: DEMO_IDP_SCA, amr: ['pwd', 'otp'] }, consent: { grantId } },
          { mergeWithLastSubmission: false },
        );
        return;
      }
      const rewrite = opts.rewriteToken;
      if (url.pathname === '/token' && rewrite) {
        // The provider answers; the body is rewritten before it leaves.
        const end = res.end.bind(res);
        const chunks: Buffer[] = [];
        res.write = ((chunk: unknown) => {
          chunks.push(Buffer.from(chunk as Buffer));
          return true;
        }) as typeof res.write;
        res.end = ((chunk?: unknown) => {
          if (chunk) chunks.push(Buffer.from(chunk as Buffer));
          void rewrite(Buffer.concat(chunks).toString('utf8'), sign).then((body) => {
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
