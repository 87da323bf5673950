/**
 * PSU login and consent interactions for authorization_code (oidc-provider hands control here and
 * takes it back with interactionFinished).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config/schema.ts';
import type { KeyManagerInternals } from '../service.ts';
import { loginPage, consentPage } from './pages.ts';

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
  async function clientName(d: Details): Promise<string> {
    const client = await km.provider.Client.find(String(d.params['client_id']));
    const meta = client as unknown as Record<string, unknown> | undefined;
    return String(meta?.['clientName'] ?? meta?.['software_client_name'] ?? d.params['client_id']);
  }
  function html(reply: FastifyReply, status: number, body: string) {
    return reply.code(status).header('cache-control', 'no-store').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'").type('text/html; charset=utf-8').send(body);
  }
  async function finish(req: FastifyRequest, reply: FastifyReply, result: Record<string, unknown>, merge: boolean) {
    reply.hijack();
    await km.provider.interactionFinished(req.raw, reply.raw, result as never, { mergeWithLastSubmission: merge });
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get<{ Params: { uid: string } }>('/oauth2/interaction/:uid', async (req, reply) => {
      const d = await details(req, reply);
      const name = await clientName(d);
      if (d.prompt.name === 'login') return html(reply, 200, loginPage({ uid: d.uid, clientName: name, sandbox }));
      const scopes = [
        ...((d.prompt.details['missingOIDCScope'] as string[] | undefined) ?? []),
        ...Object.values((d.prompt.details['missingResourceScopes'] as Record<string, string[]> | undefined) ?? {}).flat(),
      ];
      return html(reply, 200, consentPage({ uid: d.uid, clientName: name, user: km.accounts.displayName(d.session?.accountId ?? ''), scopes: [...new Set(scopes)] }));
    });

    app.post<{ Params: { uid: string }; Body: Record<string, string> }>('/oauth2/interaction/:uid/login', async (req, reply) => {
      const d = await details(req, reply);
      if (d.prompt.name !== 'login') return html(reply, 400, loginPage({ uid: d.uid, clientName: await clientName(d), sandbox, error: 'This sign-in step is not expected now.' }));
      const body = req.body ?? {};
      const accountId = km.accounts.authenticate(String(body['username'] ?? ''), String(body['password'] ?? ''));
      if (!accountId) {
        return html(reply, 401, loginPage({ uid: d.uid, clientName: await clientName(d), sandbox, error: 'The user name or password is not right.', username: String(body['username'] ?? '') }));
      }
      return finish(req, reply, { login: { accountId } }, false);
    });

    app.post<{ Params: { uid: string } }>('/oauth2/interaction/:uid/confirm', async (req, reply) => {
      const d = await details(req, reply);
      if (d.prompt.name !== 'consent' || !d.session?.accountId) {
        return html(reply, 400, loginPage({ uid: d.uid, clientName: await clientName(d), sandbox, error: 'Please sign in first.' }));
      }
      const { Grant } = km.provider;
      const grant = d.grantId ? await Grant.find(d.grantId) : new Grant({ accountId: d.session.accountId, clientId: String(d.params['client_id']) });
      if (!grant) return html(reply, 400, loginPage({ uid: d.uid, clientName: await clientName(d), sandbox, error: 'This consent has expired; start again.' }));
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
