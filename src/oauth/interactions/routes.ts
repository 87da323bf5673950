/**
 * PSU login and consent interactions for authorization_code (oidc-provider hands control here and
 * takes it back with interactionFinished).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config/schema.ts';
import type { KeyManagerInternals } from '../service.ts';
import { loginPage, consentPage } from './pages.ts';
import { interactionCsp, originSource } from './csp.ts';

interface Details {
  uid: string;
  prompt: { name: string; details: Record<string, unknown> };
  params: Record<string, unknown>;
  session?: { accountId?: string };
  grantId?: string;
}

export function interactionRoutes(km: KeyManagerInternals, config: Config) {
  const sandbox = config.server.mode === 'sandbox';

  async function details(req: FastifyRequest, reply: FastifyReply): Promise<Details> {
    return (await km.provider.interactionDetails(req.raw, reply.raw)) as unknown as Details;
  }
  /**
   * Renders a page of this interaction: the client's name for it, and the CSP that lets its forms
   * lead back to the redirect URI of this request (csp.ts) while the client may still use it.
   */
  async function page(reply: FastifyReply, status: number, d: Details, render: (clientName: string) => string) {
    const client = await km.provider.Client.find(String(d.params['client_id']));
    const meta = client as unknown as Record<string, unknown> | undefined;
    const name = String(meta?.['clientName'] ?? meta?.['software_client_name'] ?? d.params['client_id']);
    const redirectUri = d.params['redirect_uri'];
    const returnTo = client && typeof redirectUri === 'string' && client.redirectUriAllowed(redirectUri) ? originSource(redirectUri) : undefined;
    return reply
      .code(status)
      .header('cache-control', 'no-store')
      .header('content-security-policy', interactionCsp(returnTo))
      .type('text/html; charset=utf-8')
      .send(render(name));
  }
  function signInAgain(reply: FastifyReply, status: number, d: Details, error: string, username?: string) {
    return page(reply, status, d, (clientName) => loginPage({ uid: d.uid, clientName, sandbox, error, ...(username === undefined ? {} : { username }) }));
  }
  async function finish(req: FastifyRequest, reply: FastifyReply, result: Record<string, unknown>, merge: boolean) {
    reply.hijack();
    await km.provider.interactionFinished(req.raw, reply.raw, result as never, { mergeWithLastSubmission: merge });
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get<{ Params: { uid: string } }>('/oauth2/interaction/:uid', async (req, reply) => {
      const d = await details(req, reply);
      if (d.prompt.name === 'login') return page(reply, 200, d, (clientName) => loginPage({ uid: d.uid, clientName, sandbox }));
      const scopes = [
        ...((d.prompt.details['missingOIDCScope'] as string[] | undefined) ?? []),
        ...Object.values((d.prompt.details['missingResourceScopes'] as Record<string, string[]> | undefined) ?? {}).flat(),
      ];
      const user = km.accounts.displayName(d.session?.accountId ?? '');
      return page(reply, 200, d, (clientName) => consentPage({ uid: d.uid, clientName, user, scopes: [...new Set(scopes)] }));
    });

    app.post<{ Params: { uid: string }; Body: Record<string, string> }>('/oauth2/interaction/:uid/login', async (req, reply) => {
      const d = await details(req, reply);
      if (d.prompt.name !== 'login') return signInAgain(reply, 400, d, 'This sign-in step is not expected now.');
      const body = req.body ?? {};
      const accountId = km.accounts.authenticate(String(body['username'] ?? ''), String(body['password'] ?? ''));
      if (!accountId) {
        return signInAgain(reply, 401, d, 'The user name or password is not right.', String(body['username'] ?? ''));
      }
      return finish(req, reply, { login: { accountId } }, false);
    });

    app.post<{ Params: { uid: string } }>('/oauth2/interaction/:uid/confirm', async (req, reply) => {
      const d = await details(req, reply);
      if (d.prompt.name !== 'consent' || !d.session?.accountId) {
        return signInAgain(reply, 400, d, 'Please sign in first.');
      }
      const { Grant } = km.provider;
      const grant = d.grantId ? await Grant.find(d.grantId) : new Grant({ accountId: d.session.accountId, clientId: String(d.params['client_id']) });
      if (!grant) return signInAgain(reply, 400, d, 'This consent has expired; start again.');
      const det = d.prompt.details;
      if (Array.isArray(det['missingOIDCScope'])) grant.addOIDCScope((det['missingOIDCScope'] as string[]).join(' '));
      if (Array.isArray(det['missingOIDCClaims'])) grant.addOIDCClaims(det['missingOIDCClaims'] as string[]);
      for (const [indicator, scopes] of Object.entries((det['missingResourceScopes'] as Record<string, string[]> | undefined) ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      return finish(req, reply, { consent: { grantId } }, true);
    });

    app.post<{ Params: { uid: string } }>('/oauth2/interaction/:uid/abort', async (req, reply) => {
      await details(req, reply);
      return finish(req, reply, { error: 'access_denied', error_description: 'the user did not give access' }, false);
    });
  };
}
