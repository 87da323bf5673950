/**
 * PSU login and consent interactions for authorization_code (oidc-provider hands control here and
 * takes it back with interactionFinished). A request that names an Open Banking consent
 * (`openbanking_intent_id`, checked before sign-in by consent-binding.ts) gets a page built from
 * that consent, where the PSU chooses the accounts and approves or refuses it: the approval binds
 * the PSU, the accounts and a grant of its own to the consent in one compare-and-set, so of two
 * tabs approving at once one wins (docs/consents.md#authorising-a-consent).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config/schema.ts';
import type { KeyManagerInternals } from '../service.ts';
import { loginPage, consentPage, intentConsentPage } from './pages.ts';
import { interactionCsp, originSource } from './csp.ts';
import { OB_ACR_VALUES } from '../provider.ts';
import { nameOfClient } from '../client-name.ts';
import { RESULT_COOKIE, resultCookie, signInCookie, type BankSignIn } from '../bank-sign-in.ts';
import { cookieNamed } from '../../http/cookies.ts';
import { accountsUnavailablePage, signInFailedPage } from '../access/pages.ts';
import { RESIDENT_KEY_MANAGER } from '../../storage/catalogue-records.ts';
import type { ConsentRecord } from '../../storage/consent-records.ts';
import type { ConsentService } from '../../consent/service.ts';
import { CONSENT_SCOPES, authorisationRefusal, intentOfClaims } from '../../consent/authorisation.ts';
import { debtorAccountOf, describeConsent } from '../../consent/describe.ts';
import { AccountSourceUnavailable, namesAccount, type PsuAccount, type PsuAccountSource } from '../../consent/psu-accounts.ts';

interface Details {
  uid: string;
  prompt: { name: string; details: Record<string, unknown> };
  params: Record<string, unknown>;
  session?: { accountId?: string };
  grantId?: string;
}

export interface InteractionDeps {
  /** The bank's own sign-in for customers, when configured: the login is there, never a password form here. */
  readonly bank?: BankSignIn | undefined;
  readonly consents: Pick<ConsentService, 'current' | 'authorise' | 'reject'>;
  readonly accounts: PsuAccountSource;
  /** Told when the bank's account system could not answer (the log line). Must not throw. */
  readonly onAccountSourceFailure?: (reason: string) => void;
  /** Epoch milliseconds (the server's one clock). */
  readonly now: () => number;
}

/** What the consent page offers: the accounts to choose from, or the one the consent names. */
type Offer = { readonly accounts: readonly PsuAccount[]; readonly fixed: boolean } | { readonly refused: string };

const NOT_AWAITING = 'the consent is no longer awaiting authorisation';

export function interactionRoutes(km: KeyManagerInternals, config: Config, deps: InteractionDeps) {
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
    const name = nameOfClient(client) ?? String(d.params['client_id']);
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
  const denied = (req: FastifyRequest, reply: FastifyReply, description: string) =>
    finish(req, reply, { error: 'access_denied', error_description: description }, false);

  const scopesOf = (d: Details) =>
    String(d.params['scope'] ?? '')
      .split(' ')
      .filter(Boolean);

  /** The consent this interaction is for (undefined: the request asks for sign-in only), as read now. */
  async function consentOfInteraction(d: Details): Promise<{ consent: ConsentRecord | undefined } | undefined> {
    if (!scopesOf(d).some((s) => CONSENT_SCOPES.has(s))) return undefined;
    const found = intentOfClaims(d.params['claims']);
    // The authorization request was refused without one (consent-binding.ts): nothing to authorise.
    if ('problem' in found) return { consent: undefined };
    return { consent: await deps.consents.current(found.intent) };
  }

  /** The consent still awaits this request's authorisation (another tab, the TPP or the clock may have moved it). */
  const awaiting = (d: Details, c: ConsentRecord | undefined): c is ConsentRecord =>
    authorisationRefusal(c, { keyManager: RESIDENT_KEY_MANAGER, clientId: String(d.params['client_id']), scopes: scopesOf(d), now: deps.now() }) === undefined;

  /** The accounts of `psu` the page offers for `consent`; refused when the consent names an account that is not theirs. */
  async function offer(consent: ConsentRecord, psu: string): Promise<Offer> {
    const mine = await deps.accounts.list(psu); // AccountSourceUnavailable: see accountsUnavailable
    const named = debtorAccountOf(consent);
    if (named !== undefined) {
      const account = mine.find((a) => namesAccount(named, a));
      return account ? { accounts: [account], fixed: true } : { refused: 'the account this consent names is not one of yours' };
    }
    if (mine.length === 0) return { refused: 'you have no account this consent could use' };
    return { accounts: mine, fixed: false };
  }

  function consentForm(reply: FastifyReply, status: number, d: Details, consent: ConsentRecord, o: Exclude<Offer, { refused: string }>, error?: string) {
    const user = km.accounts.displayName(d.session?.accountId ?? '');
    return page(reply, status, d, (clientName) =>
      intentConsentPage({
        uid: d.uid,
        clientName,
        user,
        description: describeConsent(consent, clientName),
        accounts: o.accounts,
        fixed: o.fixed,
        ...(error === undefined ? {} : { error }),
      }),
    );
  }

  /** The accounts the form chose, each one offered, or undefined when the choice is not one the page allows. */
  function chosen(body: Record<string, string>, consent: ConsentRecord, o: Exclude<Offer, { refused: string }>): string[] | undefined {
    const offered = new Set(o.accounts.map((a) => a.accountId));
    if (o.fixed || describeConsent(consent, '').selection === 'one') {
      const id = body['account'];
      return typeof id === 'string' && offered.has(id) ? [id] : undefined;
    }
    // Checkboxes account_0 … account_{n-1}, each carrying its offered account's id.
    const picked = o.accounts.flatMap((a, i) => (body[`account_${i}`] === a.accountId ? [a.accountId] : []));
    const unknown = Object.keys(body).some((k) => /^account_\d+$/.test(k) && !picked.includes(body[k]!));
    return picked.length > 0 && !unknown ? picked : undefined;
  }

  /** Seconds the grant of an authorisation lives: until its consent ends, else the configured lifetime. */
  const grantLifetime = (consent: ConsentRecord) =>
    consent.expiresAt === null ? config.oauth.token_validity.grant : Math.max(1, Math.ceil((consent.expiresAt - deps.now()) / 1000));

  /** The bank's account system cannot say now: a clear page, the consent left as it is, the PSU may try again. */
  const accountsUnavailable = (reply: FastifyReply, d: Details) => page(reply, 503, d, () => accountsUnavailablePage(d.uid));

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.setErrorHandler(async (err, req, reply) => {
      if (!(err instanceof AccountSourceUnavailable)) throw err;
      deps.onAccountSourceFailure?.(err.message);
      const d = await details(req, reply);
      return accountsUnavailable(reply, d);
    });
    app.get<{ Params: { uid: string } }>('/oauth2/interaction/:uid', async (req, reply) => {
      const d = await details(req, reply);
      if (d.prompt.name === 'login' && deps.bank) {
        // The customer signs in at the bank, at once: no page of ours in between.
        let started: Awaited<ReturnType<BankSignIn['begin']>>;
        try {
          started = await deps.bank.begin({ kind: 'interaction', uid: d.uid });
        } catch {
          return page(reply, 503, d, () => signInFailedPage(d.uid, 'unavailable'));
        }
        return reply
          .code(303)
          .header('set-cookie', signInCookie(started.cookie))
          .header('cache-control', 'no-store')
          .header('location', started.url.href)
          .send();
      }
      if (d.prompt.name === 'login') return page(reply, 200, d, (clientName) => loginPage({ uid: d.uid, clientName, sandbox }));
      const bound = await consentOfInteraction(d);
      if (bound) {
        if (!awaiting(d, bound.consent) || !d.session?.accountId) return denied(req, reply, NOT_AWAITING);
        const o = await offer(bound.consent, d.session.accountId);
        if ('refused' in o) {
          await deps.consents.reject(bound.consent, { psu: d.session.accountId, reason: 'account' }, 'bank');
          return denied(req, reply, o.refused);
        }
        return consentForm(reply, 200, d, bound.consent, o);
      }
      const scopes = [
        ...((d.prompt.details['missingOIDCScope'] as string[] | undefined) ?? []),
        ...Object.values((d.prompt.details['missingResourceScopes'] as Record<string, string[]> | undefined) ?? {}).flat(),
      ];
      const user = km.accounts.displayName(d.session?.accountId ?? '');
      return page(reply, 200, d, (clientName) => consentPage({ uid: d.uid, clientName, user, scopes: [...new Set(scopes)] }));
    });

    // Back from the bank's sign-in (/psu/sign-in/callback sealed its outcome for this interaction's path).
    app.get<{ Params: { uid: string } }>('/oauth2/interaction/:uid/bank', async (req, reply) => {
      const d = await details(req, reply);
      const outcome = deps.bank?.takeOver(d.uid, cookieNamed(req.headers.cookie, RESULT_COOKIE));
      reply.header('set-cookie', resultCookie(d.uid, ''));
      if (!outcome || d.prompt.name !== 'login') return page(reply, 400, d, () => signInFailedPage(d.uid, 'invalid'));
      if ('refused' in outcome) return denied(req, reply, 'the user did not sign in');
      // The bank's sign-in met its strong customer authentication when the acr it asked for came back (bank-sign-in.ts).
      const sca = (config.psu.identity_provider?.acr_values.length ?? 0) > 0;
      return finish(req, reply, { login: { accountId: outcome.psu, acr: OB_ACR_VALUES[sca ? 0 : 1], amr: [...outcome.amr] } }, false);
    });

    app.post<{ Params: { uid: string }; Body: Record<string, string> }>('/oauth2/interaction/:uid/login', async (req, reply) => {
      const d = await details(req, reply);
      if (deps.bank) return page(reply, 400, d, () => signInFailedPage(d.uid, 'invalid'));
      if (d.prompt.name !== 'login') return signInAgain(reply, 400, d, 'This sign-in step is not expected now.');
      const body = req.body ?? {};
      const accountId = km.accounts.authenticate(String(body['username'] ?? ''), String(body['password'] ?? ''));
      if (!accountId) {
        return signInAgain(reply, 401, d, 'The user name or password is not right.', String(body['username'] ?? ''));
      }
      // The sandbox's sign-in stands for the bank's strong customer authentication (docs/consents.md).
      return finish(req, reply, { login: { accountId, acr: OB_ACR_VALUES[0], amr: ['pwd'] } }, false);
    });

    app.post<{ Params: { uid: string }; Body: Record<string, string> }>('/oauth2/interaction/:uid/confirm', async (req, reply) => {
      const d = await details(req, reply);
      if (d.prompt.name !== 'consent' || !d.session?.accountId) {
        return signInAgain(reply, 400, d, 'Please sign in first.');
      }
      const psu = d.session.accountId;
      const bound = await consentOfInteraction(d);
      let consent: ConsentRecord | undefined;
      let accounts: string[] = [];
      if (bound) {
        if (!awaiting(d, bound.consent)) return denied(req, reply, NOT_AWAITING);
        consent = bound.consent;
        const o = await offer(consent, psu);
        if ('refused' in o) return denied(req, reply, o.refused);
        const picked = chosen(req.body ?? {}, consent, o);
        if (!picked) return consentForm(reply, 400, d, consent, o, o.fixed ? 'Please try again.' : 'Please choose an account.');
        accounts = picked;
      }
      const { Grant } = km.provider;
      // A consent always gets a grant of its own (never the session's grant for this client).
      const grant = !consent && d.grantId ? await Grant.find(d.grantId) : new Grant({ accountId: psu, clientId: String(d.params['client_id']) });
      if (!grant) return signInAgain(reply, 400, d, 'This consent has expired; start again.');
      const det = d.prompt.details;
      if (Array.isArray(det['missingOIDCScope'])) grant.addOIDCScope((det['missingOIDCScope'] as string[]).join(' '));
      if (Array.isArray(det['missingOIDCClaims'])) grant.addOIDCClaims(det['missingOIDCClaims'] as string[]);
      for (const [indicator, scopes] of Object.entries((det['missingResourceScopes'] as Record<string, string[]> | undefined) ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      if (consent) (grant as unknown as { expiresIn: number }).expiresIn = grantLifetime(consent);
      const grantId = await grant.save();
      if (consent) {
        const authorised = await deps.consents.authorise(consent, { psu, accounts, grantId });
        if (!authorised) {
          // Another tab, the TPP or the clock changed the consent first: this grant gives nothing.
          await grant.destroy();
          return denied(req, reply, NOT_AWAITING);
        }
      }
      return finish(req, reply, { consent: { grantId } }, true);
    });

    // The PSU refuses the consent, signed in: it is rejected, and the TPP told access_denied.
    app.post<{ Params: { uid: string } }>('/oauth2/interaction/:uid/deny', async (req, reply) => {
      const d = await details(req, reply);
      const bound = d.session?.accountId ? await consentOfInteraction(d) : undefined;
      if (bound && awaiting(d, bound.consent)) await deps.consents.reject(bound.consent, { psu: d.session!.accountId!, reason: 'psu' });
      return denied(req, reply, 'the user did not give access');
    });

    // Cancel before signing in: the TPP is told access_denied; a consent is left as it is (nobody signed in to refuse it).
    app.post<{ Params: { uid: string } }>('/oauth2/interaction/:uid/abort', async (req, reply) => {
      await details(req, reply);
      return denied(req, reply, 'the user did not give access');
    });
  };
}
