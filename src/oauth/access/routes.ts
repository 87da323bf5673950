/**
 * The customer's access dashboard (`/psu/access`, docs/consents.md#the-customers-access-dashboard):
 * once signed in with the bank's own sign-in, the customer sees every consent they authorised,
 * what each lets its TPP see or do, the accounts, when it was granted and ends, its status and
 * history, and stops one ("stop sharing", after a page that says what the TPP loses): the consent
 * is revoked at once (its tokens stop on every host) and its TPP told (docs/events.md). Only the
 * customer's own consents, ever: another customer's id is "not found", as an unknown one.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ConsentService } from '../../consent/service.ts';
import { describeConsent } from '../../consent/describe.ts';
import type { PsuAccountSource } from '../../consent/psu-accounts.ts';
import { isPaymentKind } from '../../consent/status.ts';
import type { ConsentEvent, ConsentRecord } from '../../storage/consent-records.ts';
import { PAGE_STYLE, accountLabel } from '../interactions/pages.ts';
import { accessDashboardPage, accessMessagePage, accessSignInPage, accessStopPage, signedInPage, signInFailedPage, type AccessItem } from './pages.ts';
import { ACCESS_PATH, psuCookie, type PsuSession, type PsuSessions } from './sessions.ts';
import { createHash } from 'node:crypto';
import { fromOtherOrigin } from '../../http/origins.ts';
import { cookieNamed } from '../../http/cookies.ts';
import { CALLBACK_PATH, SIGN_IN_COOKIE, resultCookie, signInCookie, type BankSignIn } from '../bank-sign-in.ts';

/** How the customer signs in here: the sandbox's form, or the bank's own sign-in (docs/consents.md#the-banks-sign-in). */
export type AccessSignIn =
  | { readonly kind: 'form'; check(username: string, password: string): string | undefined }
  | { readonly kind: 'bank'; readonly bank: BankSignIn };

export interface AccessDeps {
  readonly consents: Pick<ConsentService, 'list' | 'history' | 'current' | 'revokeByPsu'>;
  readonly accounts: PsuAccountSource;
  readonly sessions: PsuSessions;
  readonly signIn: AccessSignIn;
  /** The TPP's name for a client id (its registration's), else undefined. */
  readonly tppName: (clientId: string) => Promise<string | undefined>;
  /** How the customer is named on the page. */
  readonly displayName: (psu: string) => string;
  /** Told of a bank sign-in that failed a check or could not reach the provider (the log line). Must not throw. */
  readonly onSignInFailure?: (failure: 'refused' | 'invalid' | 'unavailable', reason: string) => void;
  /** The public base URL: a change posted from another origin is refused. */
  readonly baseUrl: string;
  readonly sandbox: boolean;
}

const STYLE = `'sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}'`;
/** The dashboard's policy: its own style, its own forms, nothing else, never framed. */
export const ACCESS_CSP = ["default-src 'none'", `style-src ${STYLE}`, "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"].join('; ');

const UNAVAILABLE = 'The bank’s sign-in is not available right now. Nothing was shared; please try again later.';
const FAILURE_WORDS = {
  refused: 'You cancelled the sign-in.',
  invalid: 'The sign-in could not be completed. Nothing was shared; please sign in again.',
  unavailable: UNAVAILABLE,
} as const;

/** Most consents the dashboard lists (newest first). */
const LISTED = 500;

const when = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? undefined : `${new Date(ms).toLocaleString('en-GB', { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' })} UTC`;

const STATUS_WORDS: Record<string, string> = {
  AUTH: 'Active',
  CANC: 'Stopped',
  EXPD: 'Ended (expired)',
  RJCT: 'Refused',
  COND: 'Used (the payment was made)',
  AWAU: 'Waiting for your approval',
};
const ACTOR_WORDS: Record<string, string> = { tpp: 'by the app', psu: 'by you', bank: 'by the bank', system: 'automatically', staff: 'by the bank' };

function historyLine(e: ConsentEvent): string {
  const at = when(e.at) ?? '';
  if (e.from === null) return `${at}: requested by the app`;
  if (e.from === e.to) return `${at}: deleted ${ACTOR_WORDS[e.actor] ?? ''}`;
  return `${at}: ${(STATUS_WORDS[e.to] ?? e.to).toLowerCase()} ${ACTOR_WORDS[e.actor] ?? ''}`.trim();
}

export function accessRoutes(deps: AccessDeps) {
  const { sessions } = deps;

  function send(reply: FastifyReply, status: number, html: string) {
    return reply
      .code(status)
      .header('cache-control', 'no-store')
      .header('content-security-policy', ACCESS_CSP)
      .header('referrer-policy', 'same-origin')
      .header('x-content-type-options', 'nosniff')
      .type('text/html; charset=utf-8')
      .send(html);
  }

  /** The signed-in customer's live session, or undefined. */
  async function sessionOf(req: FastifyRequest): Promise<PsuSession | undefined> {
    const s = sessions.read(psuCookie(req.headers.cookie));
    return s && !(await sessions.ended(s)) ? s : undefined;
  }

  /** A change must come from the bank's own pages: another site's form never signs in, stops or signs out. */
  const crossSite = (req: FastifyRequest) => fromOtherOrigin(req, deps.baseUrl);

  async function item(c: ConsentRecord, psu: string): Promise<AccessItem> {
    // Without the bank's account system, the accounts are named as "an account no longer listed" rather than the page failing.
    const [name, history, mine] = await Promise.all([deps.tppName(c.clientId), deps.consents.history(c.id), deps.accounts.list(psu).catch(() => [])]);
    const tppName = name ?? 'An app';
    // The consent page's words ("asks to see"), said of what was granted.
    const asked = describeConsent(c, tppName);
    const description = { ...asked, summary: asked.summary.replace(' asks to ', ' may ') };
    const granted = history.find((e) => e.to === 'AUTH' && e.from === 'AWAU');
    const active = c.status === 'AUTH' && c.deletedAt === null;
    return {
      id: c.id,
      tppName,
      description,
      accounts: c.accounts.map((id) => {
        const a = mine.find((x) => x.accountId === id);
        return a ? accountLabel(a) : 'an account no longer listed';
      }),
      status: c.deletedAt !== null && c.status === 'AUTH' ? 'Stopped by the app' : (STATUS_WORDS[c.status] ?? c.status),
      active,
      stoppable: active && description.revocable && !isPaymentKind(c.kind),
      grantedAt: when(granted?.at),
      history: history.map(historyLine),
    };
  }

  /** The customer's own consent `id` as it is now; undefined for another's, an unknown or a malformed id. */
  async function own(id: string, psu: string): Promise<ConsentRecord | undefined> {
    const c = id.length > 0 && id.length <= 128 ? await deps.consents.current(id) : undefined;
    return c && c.psu === psu ? c : undefined;
  }

  async function dashboard(reply: FastifyReply, session: PsuSession, notice?: string) {
    const list = await deps.consents.list({ psu: session.psu, deleted: true, limit: LISTED });
    // Only what the customer authorised or refused: one still waiting has no customer yet.
    const items = await Promise.all(list.filter((c) => c.psu === session.psu).map((c) => item(c, session.psu)));
    reply.header('set-cookie', sessions.setCookie(sessions.touch(session)));
    return send(
      reply,
      200,
      accessDashboardPage({ user: deps.displayName(session.psu), items, csrf: sessions.csrfToken(session), ...(notice === undefined ? {} : { notice }) }),
    );
  }

  const signInPage = (reply: FastifyReply, status: number, error?: string, username?: string) =>
    send(
      reply,
      status,
      accessSignInPage({
        redirect: deps.signIn.kind === 'bank',
        sandbox: deps.sandbox,
        ...(error === undefined ? {} : { error }),
        ...(username === undefined ? {} : { username }),
      }),
    );

  /** Sends the customer to the bank's provider, or says it cannot be reached. */
  async function bankSignIn(reply: FastifyReply, bank: BankSignIn) {
    let started: Awaited<ReturnType<BankSignIn['begin']>>;
    try {
      started = await bank.begin({ kind: 'access' });
    } catch (err) {
      deps.onSignInFailure?.('unavailable', err instanceof Error ? err.message : 'the provider could not be read');
      return signInPage(reply, 503, UNAVAILABLE);
    }
    return reply.code(303).header('set-cookie', signInCookie(started.cookie)).header('cache-control', 'no-store').header('location', started.url.href).send();
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    // With the bank's sign-in, the dashboard's link starts one.
    app.get(`${ACCESS_PATH}/sign-in`, async (_req, reply) =>
      deps.signIn.kind === 'bank' ? bankSignIn(reply, deps.signIn.bank) : reply.code(303).header('location', ACCESS_PATH).send(),
    );

    // The bank's provider sends the customer back here, for the dashboard or for an authorization's login.
    app.get(CALLBACK_PATH, async (req, reply) => {
      if (deps.signIn.kind !== 'bank') return send(reply, 404, accessMessagePage('Not found', 'There is no such page.'));
      const result = await deps.signIn.bank.finish(new URL(req.url, deps.baseUrl), cookieNamed(req.headers.cookie, SIGN_IN_COOKIE));
      reply.header('set-cookie', signInCookie(''));
      const purpose = result.purpose;
      if (purpose?.kind === 'interaction') {
        const uid = purpose.uid;
        // Refused, or signed in: the interaction's own page takes it over. An answer that failed a check signs nobody in.
        if (result.ok || result.failure === 'refused') {
          const handed = deps.signIn.bank.handOver(uid, result.ok ? { psu: result.psu, acr: result.acr, amr: result.amr } : { refused: true });
          reply.header('set-cookie', [signInCookie(''), resultCookie(uid, handed)]);
          return reply
            .code(303)
            .header('cache-control', 'no-store')
            .header('location', `/oauth2/interaction/${encodeURIComponent(uid)}/bank`)
            .send();
        }
        deps.onSignInFailure?.(result.failure, result.reason);
        return send(reply, result.failure === 'unavailable' ? 503 : 400, signInFailedPage(uid, result.failure));
      }
      if (!result.ok) {
        deps.onSignInFailure?.(result.failure, result.reason);
        return signInPage(reply, result.failure === 'unavailable' ? 503 : result.failure === 'refused' ? 200 : 400, FAILURE_WORDS[result.failure]);
      }
      const { cookie } = sessions.issue(result.psu);
      reply.header('set-cookie', [signInCookie(''), sessions.setCookie(cookie)]);
      // A page of this site leads on, so the dashboard's SameSite=Strict cookie goes with the next request
      // (a redirect chain that began at the provider's site would leave it behind).
      return send(reply, 200, signedInPage());
    });

    app.get(ACCESS_PATH, async (req, reply) => {
      const session = await sessionOf(req);
      return session ? dashboard(reply, session) : signInPage(reply, 200);
    });

    app.post<{ Body: Record<string, string> | undefined }>(`${ACCESS_PATH}/sign-in`, async (req, reply) => {
      if (crossSite(req)) return send(reply, 403, accessMessagePage('Not allowed', 'Sign in from the bank’s own page.'));
      if (deps.signIn.kind === 'bank') return bankSignIn(reply, deps.signIn.bank);
      const body = req.body ?? {};
      const username = typeof body['username'] === 'string' ? body['username'].slice(0, 200) : '';
      const psu = deps.signIn.check(username, typeof body['password'] === 'string' ? body['password'] : '');
      if (!psu) return signInPage(reply, 401, 'The user name or password is not right.', username);
      const { cookie } = sessions.issue(psu);
      return reply.code(303).header('set-cookie', sessions.setCookie(cookie)).header('cache-control', 'no-store').header('location', ACCESS_PATH).send();
    });

    app.get<{ Params: { id: string } }>(`${ACCESS_PATH}/consents/:id/stop`, async (req, reply) => {
      const session = await sessionOf(req);
      if (!session) return signInPage(reply, 401, 'Please sign in first.');
      const c = await own(req.params.id, session.psu);
      if (!c) return send(reply, 404, accessMessagePage('Not found', 'There is no such connection among yours.'));
      const it = await item(c, session.psu);
      if (!it.stoppable) return send(reply, 409, accessMessagePage('Already ended', `${it.tppName} has no access to stop.`));
      return send(reply, 200, accessStopPage({ item: it, csrf: sessions.csrfToken(session) }));
    });

    app.post<{ Params: { id: string }; Body: Record<string, string> | undefined }>(`${ACCESS_PATH}/consents/:id/stop`, async (req, reply) => {
      const session = await sessionOf(req);
      if (!session) return signInPage(reply, 401, 'Please sign in first.');
      if (crossSite(req) || !sessions.checkCsrf(session, req.body?.['csrf'])) {
        return send(reply, 403, accessMessagePage('Not allowed', 'This form has expired: go back to your connected apps and try again.'));
      }
      const c = await own(req.params.id, session.psu);
      if (!c) return send(reply, 404, accessMessagePage('Not found', 'There is no such connection among yours.'));
      const name = (await deps.tppName(c.clientId)) ?? 'The app';
      const result = await deps.consents.revokeByPsu(c.id, session.psu);
      if (!result) return send(reply, 404, accessMessagePage('Not found', 'There is no such connection among yours.'));
      if ('refused' in result) return send(reply, 409, accessMessagePage('Already ended', `${name} has no access to stop.`));
      return dashboard(reply, session, `You stopped sharing with ${name}. It can no longer use this access.`);
    });

    app.post<{ Body: Record<string, string> | undefined }>(`${ACCESS_PATH}/sign-out`, async (req, reply) => {
      const session = await sessionOf(req);
      if (session && !crossSite(req) && sessions.checkCsrf(session, req.body?.['csrf'])) {
        await sessions.end(session);
        reply.header('set-cookie', sessions.setCookie(''));
      }
      return signInPage(reply, 200);
    });
  };
}
