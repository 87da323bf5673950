/**
 * The customer's access dashboard, server-rendered: plain HTML, labelled forms, no scripts, the
 * interaction pages' one stylesheet (allowed by its hash). What each consent lets its TPP do is in
 * the words of the consent page (src/consent/describe.ts).
 */
import type { ConsentDescription } from '../../consent/describe.ts';
import { esc, layout } from '../interactions/pages.ts';
import { ACCESS_PATH } from './sessions.ts';

/** One consent as its customer sees it. */
export interface AccessItem {
  readonly id: string;
  readonly tppName: string;
  readonly description: ConsentDescription;
  /** The accounts it covers, in the customer's words. */
  readonly accounts: readonly string[];
  /** The consent's status in words, and whether it still gives access. */
  readonly status: string;
  readonly active: boolean;
  /** The customer may stop it here (authorised, and of a kind that can be withdrawn). */
  readonly stoppable: boolean;
  readonly grantedAt: string | undefined;
  readonly history: readonly string[];
}

const idOf = (id: string) => `c-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`;

export function accessSignInPage(opts: { error?: string; username?: string; redirect: boolean; sandbox: boolean }): string {
  // A link, not a form: the way to the bank's provider is a navigation (a form's redirect there would meet form-action 'self').
  const form = opts.redirect
    ? `<p><a href="${ACCESS_PATH}/sign-in">Sign in with your bank</a></p>`
    : `<form method="post" action="${ACCESS_PATH}/sign-in" autocomplete="off">
<label for="username">User name</label>
<input id="username" name="username" type="text" required autofocus value="${esc(opts.username ?? '')}">
<label for="password">Password</label>
<input id="password" name="password" type="password" required>
<button type="submit">Sign in</button>
</form>`;
  return layout(
    'Your connected apps',
    `<h1>Your connected apps</h1>
<p>Sign in to see which apps and services can see your accounts or make payments, and to stop any of them.</p>
${opts.error ? `<p class="error" role="alert">${esc(opts.error)}</p>` : ''}
${form}
${opts.sandbox && !opts.redirect ? '<p class="note">Sandbox mode: use one of the demo users from the configuration ([[sandbox.users]]).</p>' : ''}`,
  );
}

function itemHtml(item: AccessItem): string {
  const d = item.description;
  const h = idOf(item.id);
  const permissions = d.permissions.length ? `<ul>${d.permissions.map((p) => `<li>${esc(p)}</li>`).join('')}</ul>` : '';
  const details = d.details.length ? `<dl>${d.details.map((l) => `<dt>${esc(l.label)}</dt><dd>${esc(l.value)}</dd>`).join('')}</dl>` : '';
  const facts = [
    ['Status', item.status],
    ['Accounts', item.accounts.length ? item.accounts.join('; ') : '—'],
    ['Since', item.grantedAt ?? '—'],
  ];
  return `<section class="consent" aria-labelledby="${h}">
<h3 id="${h}">${esc(item.tppName)}</h3>
<p>${esc(d.summary)}</p>
${permissions}
${details}
<dl>${facts.map(([k, v]) => `<dt>${esc(k!)}</dt><dd>${esc(v!)}</dd>`).join('')}</dl>
<details><summary>History</summary><ul>${item.history.map((e) => `<li>${esc(e)}</li>`).join('')}</ul></details>
${item.stoppable ? `<p><a href="${ACCESS_PATH}/consents/${encodeURIComponent(item.id)}/stop">Stop sharing with ${esc(item.tppName)}</a></p>` : ''}
</section>`;
}

export function accessDashboardPage(opts: { user: string; items: readonly AccessItem[]; csrf: string; notice?: string }): string {
  const active = opts.items.filter((i) => i.active);
  const ended = opts.items.filter((i) => !i.active);
  return layout(
    'Your connected apps',
    `<h1>Your connected apps</h1>
<p>Signed in as <strong>${esc(opts.user)}</strong>.</p>
${opts.notice ? `<p class="notice" role="status">${esc(opts.notice)}</p>` : ''}
<h2>Sharing now</h2>
${active.length ? active.map(itemHtml).join('\n') : '<p>No app can see your accounts or make payments from them now.</p>'}
<h2>Ended</h2>
${ended.length ? ended.map(itemHtml).join('\n') : '<p>Nothing has ended yet.</p>'}
<form method="post" action="${ACCESS_PATH}/sign-out"><input type="hidden" name="csrf" value="${esc(opts.csrf)}"><button type="submit">Sign out</button></form>`,
  );
}

/** Asks before stopping: says what the TPP will no longer see or do. */
export function accessStopPage(opts: { item: AccessItem; csrf: string }): string {
  const { item } = opts;
  const d = item.description;
  const losing = d.permissions.length
    ? `<p>${esc(item.tppName)} will no longer see:</p><ul>${d.permissions.map((p) => `<li>${esc(p)}</li>`).join('')}</ul>`
    : `<p>${esc(item.tppName)} will no longer be able to ${esc(d.summary.slice(d.summary.indexOf(' may ') + 5).replace(/:$/, ''))}.</p>`;
  return layout(
    `Stop sharing with ${item.tppName}`,
    `<h1>Stop sharing with ${esc(item.tppName)}?</h1>
${losing}
${item.accounts.length ? `<p>From: ${esc(item.accounts.join('; '))}</p>` : ''}
<p>This takes effect at once and cannot be undone; to share again, start from ${esc(item.tppName)}. Consider telling ${esc(item.tppName)} too.</p>
<form method="post" action="${ACCESS_PATH}/consents/${encodeURIComponent(item.id)}/stop">
<input type="hidden" name="csrf" value="${esc(opts.csrf)}">
<button type="submit">Stop sharing</button>
</form>
<p><a href="${ACCESS_PATH}">Keep sharing and go back</a></p>`,
  );
}

export function accessMessagePage(title: string, message: string): string {
  return layout(title, `<h1>${esc(title)}</h1>\n<p>${esc(message)}</p>\n<p><a href="${ACCESS_PATH}">Back to your connected apps</a></p>`);
}

/** After the bank's sign-in: this site's own page leads on to the dashboard (at once, and by its link). */
export function signedInPage(): string {
  return layout('Signed in', `<h1>Signed in</h1>\n<p><a href="${ACCESS_PATH}">Continue to your connected apps</a></p>`).replace(
    '<meta charset="utf-8">',
    `<meta charset="utf-8">\n<meta http-equiv="refresh" content="0;url=${ACCESS_PATH}">`,
  );
}

/** An authorization's sign-in at the bank failed a check or could not reach it: nothing is authorised; try again or cancel. */
export function signInFailedPage(uid: string, failure: 'invalid' | 'unavailable'): string {
  const u = encodeURIComponent(uid);
  const why = failure === 'unavailable' ? 'The bank’s sign-in is not available right now.' : 'The sign-in could not be completed.';
  return layout(
    'Sign-in did not complete',
    `<h1>Sign-in did not complete</h1>
<p class="error" role="alert">${esc(why)} Nothing has been shared.</p>
<p><a href="/oauth2/interaction/${u}">Try again</a></p>
<form method="post" action="/oauth2/interaction/${u}/abort"><button type="submit">Cancel and go back</button></form>`,
  );
}

/** The bank's account system could not list the customer's accounts for a consent: nothing decided; try again or cancel. */
export function accountsUnavailablePage(uid: string): string {
  const u = encodeURIComponent(uid);
  return layout(
    'Your accounts cannot be shown',
    `<h1>Your accounts cannot be shown right now</h1>
<p class="error" role="alert">The bank could not list your accounts just now. Nothing has been shared or refused.</p>
<p><a href="/oauth2/interaction/${u}">Try again</a></p>
<form method="post" action="/oauth2/interaction/${u}/abort"><button type="submit">Cancel and go back</button></form>`,
  );
}
