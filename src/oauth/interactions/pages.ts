/** Server-rendered PSU login and consent pages: plain HTML, labelled fields, no scripts. */
import type { ConsentDescription } from '../../consent/describe.ts';
import type { PsuAccount } from '../../consent/psu-accounts.ts';

/** The pages' one stylesheet, inline and allowed by its hash (csp.ts), so the pages make no other request. */
export const PAGE_STYLE = `
body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}
label{display:block;margin-top:1rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1.25rem;padding:.6rem 1.2rem;font-size:1rem;margin-right:.5rem}
.error{color:#b00020;border-left:4px solid #b00020;padding-left:.5rem}
.note{color:#555;font-size:.9rem}
fieldset{margin-top:1rem;border:1px solid #767676;padding:.5rem 1rem}
legend{font-weight:600}
.choice{display:flex;gap:.5rem;align-items:baseline;margin:.4rem 0}
.choice label{margin:0;font-weight:400}
dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem}
dt{font-weight:600}
dd{margin:0}
.notice{border-left:4px solid #1b6e2c;padding-left:.5rem}
section.consent{border-top:1px solid #767676;margin-top:1.5rem}
a{color:#0b57d0}
`;

/** HTML-escapes text for an element or a quoted attribute. */
export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A whole page around `body`, with the one stylesheet. */
export function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${PAGE_STYLE}</style>
</head>
<body><main>
${body}
</main></body>
</html>`;
}

export function loginPage(opts: { uid: string; clientName: string; error?: string; sandbox: boolean; username?: string }): string {
  return layout(
    'Sign in to your bank',
    `<h1>Sign in to your bank</h1>
<p><strong>${esc(opts.clientName)}</strong> is asking to access your accounts.</p>
${opts.error ? `<p class="error" role="alert">${esc(opts.error)}</p>` : ''}
<form method="post" action="/oauth2/interaction/${esc(opts.uid)}/login" autocomplete="off">
<label for="username">User name</label>
<input id="username" name="username" type="text" required autofocus value="${esc(opts.username ?? '')}">
<label for="password">Password</label>
<input id="password" name="password" type="password" required>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/oauth2/interaction/${esc(opts.uid)}/abort"><button type="submit">Cancel</button></form>
${opts.sandbox ? '<p class="note">Sandbox mode: use one of the demo users from the configuration ([[sandbox.users]]).</p>' : ''}`,
  );
}

export function consentPage(opts: { uid: string; clientName: string; user: string; scopes: string[] }): string {
  const items = opts.scopes.map((s) => `<li>${esc(s)}</li>`).join('');
  return layout(
    'Give access',
    `<h1>Give access</h1>
<p>Signed in as <strong>${esc(opts.user)}</strong>.</p>
<p><strong>${esc(opts.clientName)}</strong> asks for:</p>
<ul>${items || '<li>Access to your identity</li>'}</ul>
<form method="post" action="/oauth2/interaction/${esc(opts.uid)}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/oauth2/interaction/${esc(opts.uid)}/abort"><button type="submit">Deny</button></form>`,
  );
}

/** An account as the customer knows it: its name, currency and the last four digits of its number. */
export const accountLabel = (a: PsuAccount): string => `${a.nickname} (${a.currency}), ending ${a.identification.slice(-4)}`;

export interface ConsentPageOptions {
  uid: string;
  clientName: string;
  user: string;
  description: ConsentDescription;
  /** The accounts the customer may choose; with `fixed`, the one the consent names. */
  accounts: readonly PsuAccount[];
  /** The consent names the account (a payment's DebtorAccount): shown, not chosen. */
  fixed: boolean;
  error?: string;
}

/** The page where the PSU authorises one consent: built from the consent, accounts chosen here. */
export function intentConsentPage(o: ConsentPageOptions): string {
  const d = o.description;
  const permissions = d.permissions.length ? `<ul>${d.permissions.map((p) => `<li>${esc(p)}</li>`).join('')}</ul>` : '';
  const details = d.details.length ? `<dl>${d.details.map((l) => `<dt>${esc(l.label)}</dt><dd>${esc(l.value)}</dd>`).join('')}</dl>` : '';
  let choose: string;
  if (o.fixed) {
    const a = o.accounts[0]!;
    choose = `<p>From your account: <strong>${esc(accountLabel(a))}</strong></p><input type="hidden" name="account" value="${esc(a.accountId)}">`;
  } else if (d.selection === 'many') {
    choose = `<fieldset><legend>Choose the accounts to share</legend>${o.accounts
      .map(
        (a, i) =>
          `<div class="choice"><input type="checkbox" id="account_${i}" name="account_${i}" value="${esc(a.accountId)}"><label for="account_${i}">${esc(accountLabel(a))}</label></div>`,
      )
      .join('')}</fieldset>`;
  } else {
    choose = `<fieldset><legend>Choose the account to use</legend>${o.accounts
      .map(
        (a, i) =>
          `<div class="choice"><input type="radio" id="account_${i}" name="account" value="${esc(a.accountId)}"${o.accounts.length === 1 ? ' checked' : ''}><label for="account_${i}">${esc(accountLabel(a))}</label></div>`,
      )
      .join('')}</fieldset>`;
  }
  return layout(
    'Give access',
    `<h1>Give access</h1>
<p>Signed in as <strong>${esc(o.user)}</strong>.</p>
${o.error ? `<p class="error" role="alert">${esc(o.error)}</p>` : ''}
<p>${esc(d.summary)}</p>
${permissions}
${details}
<form method="post" action="/oauth2/interaction/${esc(o.uid)}/confirm">
${choose}
<button type="submit">Allow</button>
</form>
<form method="post" action="/oauth2/interaction/${esc(o.uid)}/deny"><button type="submit">Deny</button></form>
${d.revocable ? `<p class="note">You can withdraw this access at any time with ${esc(o.clientName)} or with your bank.</p>` : ''}`,
  );
}
