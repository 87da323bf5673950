// The console shell: login, navigation, and the router that draws the page the path names.
// Every page is built on the same REST APIs scripts use (no second code path).
import { api, ApiError, fill, find, h, link, messages, setSession, field } from './lib.js';
import { dashboardPage } from './pages/dashboard.js';
import { apisPage, apiDetailPage } from './pages/apis.js';
import { plansPage, planDetailPage } from './pages/plans.js';
import { applicationsPage, applicationDetailPage } from './pages/applications.js';
import { logPage } from './pages/log.js';
import { keyManagersPage, keyManagerDetailPage } from './pages/key-managers.js';
import { securityPage } from './pages/security.js';
import { sandboxPage } from './pages/sandbox.js';
import { consentsPage, consentDetailPage } from './pages/consents.js';
/** @import { Child, Page, Session } from './lib.js' */

const BASE = '/admin';
const sandbox = document.querySelector('meta[name="opendcr-sandbox"]')?.getAttribute('content') === 'true';

/** @type {[string, string][]} */
const NAV = [
  ['/', 'Dashboard'],
  ['/consents', 'Consents'],
  ['/apis', 'APIs'],
  ['/plans', 'Business plans'],
  ['/applications', 'Applications'],
  ['/log', 'Registration log'],
  ['/key-managers', 'Key managers'],
  ['/security', 'Trust, keys and scopes'],
  ...(sandbox ? /** @satisfies {[string, string][]} */ ([['/sandbox', 'Sandbox']]) : []),
];

/** @type {[RegExp, Page, string][]} */
const ROUTES = [
  [/^\/$/, dashboardPage, 'Dashboard'],
  [/^\/consents$/, consentsPage, 'Consents'],
  [/^\/consents\/([^/]+)$/, consentDetailPage, 'Consent'],
  [/^\/apis$/, apisPage, 'APIs'],
  [/^\/apis\/([^/]+)$/, apiDetailPage, 'API'],
  [/^\/plans$/, plansPage, 'Business plans'],
  [/^\/plans\/([^/]+)$/, planDetailPage, 'Business plan'],
  [/^\/applications$/, applicationsPage, 'Applications'],
  [/^\/applications\/([^/]+)$/, applicationDetailPage, 'Application'],
  [/^\/log$/, logPage, 'Registration log'],
  [/^\/key-managers$/, keyManagersPage, 'Key managers'],
  [/^\/key-managers\/([^/]+)$/, keyManagerDetailPage, 'Key manager'],
  [/^\/security$/, securityPage, 'Trust, keys and scopes'],
  ...(sandbox ? /** @satisfies {[RegExp, Page, string][]} */ ([[/^\/sandbox$/, sandboxPage, 'Sandbox']]) : []),
];

/** Customer care sees the consents and nothing else (the server refuses the rest too). */
const CARE_PAGES = new Set(['/consents']);
/** @param {Session} who */
const navOf = (who) => (who.role === 'customer_care' ? NAV.filter(([p]) => CARE_PAGES.has(p)) : NAV);
/** @type {Record<Session['role'], string>} */
const ROLE_NAMES = { admin: 'administrator', auditor: 'auditor, read only', customer_care: 'customer care' };

const root = find(document, '#app', HTMLElement);
/** @type {Session | null} */
let session = null;

function localPath() {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '/';
  return p === '' ? '/' : p;
}

/**
 * @param {string} path within the console ('/apis')
 * @param {{ replace?: boolean }} [opts] replace: the move replaces the history entry
 */
export function navigate(path, { replace = false } = {}) {
  const url = `${BASE}${path === '/' ? '/' : path}`;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  void render();
}

// Links marked data-nav move within the console; others (downloads, the API description) load.
document.addEventListener('click', (event) => {
  const a = event.target instanceof Element ? event.target.closest('a[data-nav]') : null;
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const href = a.getAttribute('href');
  if (!href?.startsWith(`${BASE}/`) && href !== BASE) return;
  event.preventDefault();
  navigate(href.slice(BASE.length) || '/');
});
window.addEventListener('popstate', () => {
  void render();
});

async function loadSession() {
  // Nobody signed in: user and role null.
  const who = /** @type {Session | { user: null, role: null }} */ (await api('GET', '/admin/api/session'));
  session = who.user ? who : null;
  setSession(session ? session.csrfToken : null, lost);
}

function lost() {
  session = null;
  setSession(null);
  void render();
}

function loginView() {
  const msg = messages();
  const form = h(
    'form',
    { class: 'login', novalidate: false },
    h('h1', null, 'OpenDCR console'),
    h('p', null, 'Sign in with a console user of [admin] users, or the [super_admin] account.'),
    field('User name', 'username', { required: true, autocomplete: 'username' }),
    field('Password', 'password', { kind: 'password', required: true, autocomplete: 'current-password' }),
    msg.el,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const submit = find(form, 'button[type="submit"]', HTMLButtonElement);
    submit.disabled = true;
    try {
      session = /** @type {Session} */ (
        await api('POST', '/admin/api/session', { json: { username: String(data.get('username')), password: String(data.get('password')) } })
      );
      setSession(session.csrfToken, lost);
      await render();
    } catch (err) {
      msg.error(err instanceof ApiError && err.status === 401 ? new ApiError(401, 'ADMIN_UNAUTHORIZED', 'the user name or password is wrong') : err);
    } finally {
      submit.disabled = false;
    }
  });
  return h('main', { id: 'main', class: 'login-main', tabindex: '-1' }, form);
}

/**
 * The page around a page's content: header, navigation, main.
 * @param {Child} content
 * @param {string} current the console path shown
 * @param {Session} who the signed-in user
 */
function shell(content, current, who) {
  const nav = h(
    'nav',
    { class: 'nav', 'aria-label': 'Console sections' },
    h(
      'ul',
      null,
      navOf(who).map(([path, label]) => {
        const active = path === '/' ? current === '/' : current === path || current.startsWith(`${path}/`);
        return h('li', null, link(`${BASE}${path === '/' ? '/' : path}`, label, active ? { 'aria-current': 'page' } : {}));
      }),
    ),
  );
  // Sign out ends this session; sign out everywhere ends every session of this user, on every host.
  /** @type {(path: string, label: string) => HTMLButtonElement} */
  const signOut = (path, label) =>
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        onclick: async () => {
          try {
            await api('DELETE', path);
          } finally {
            lost();
          }
        },
      },
      label,
    );
  return [
    h(
      'header',
      { class: 'top' },
      h('a', { href: `${BASE}/`, class: 'brand', dataset: { nav: '' } }, 'OpenDCR'),
      h('span', { class: 'who' }, `${who.user} (${ROLE_NAMES[who.role]})`),
      signOut('/admin/api/session', 'Sign out'),
      signOut('/admin/api/sessions', 'Sign out everywhere'),
    ),
    h('div', { class: 'layout' }, nav, h('main', { id: 'main', tabindex: '-1' }, content)),
  ];
}

/**
 * The first route whose expression matches the path, with its match.
 * @param {string} path
 */
function routeOf(path) {
  for (const [re, page, title] of ROUTES) {
    const m = re.exec(path);
    if (m) return { m, page, title };
  }
  return undefined;
}

let renderCount = 0;
let rendered = 0;
async function render() {
  const moved = rendered++ > 0;
  const mine = ++renderCount;
  if (session === null) await loadSession();
  if (mine !== renderCount) return;
  if (session === null) {
    document.title = 'Sign in · OpenDCR console';
    fill(root, loginView());
    root.querySelector('input')?.focus();
    return;
  }
  const path = localPath();
  // Customer care starts at the consents and reaches no other page.
  if (session.role === 'customer_care' && !path.startsWith('/consents')) {
    history.replaceState(null, '', `${BASE}/consents`);
    return render();
  }
  const route = routeOf(path);
  const holder = h('div', { class: 'page', 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading…'));
  fill(root, shell(holder, path, session));
  /** @type {Child} */
  let content;
  if (!route) {
    document.title = 'Not found · OpenDCR console';
    content = [h('h1', null, 'Not found'), h('p', null, 'There is no such page in the console. '), link(`${BASE}/`, 'Go to the dashboard')];
  } else {
    const { m, page, title } = route;
    document.title = `${title} · OpenDCR console`;
    try {
      content = await page({ session, params: m.slice(1).map(decodeURIComponent), navigate, refresh: render, sandbox });
    } catch (err) {
      const msg = messages();
      msg.error(err);
      content = [h('h1', null, title), msg.el];
    }
  }
  if (mine !== renderCount) return;
  fill(holder, content);
  holder.removeAttribute('aria-busy');
  // After a move within the console, focus goes to the new page's heading, so keyboard and
  // screen reader users start there; a page loaded afresh starts at the top, as any page does.
  const heading = holder.querySelector('h1');
  if (heading && moved) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}

void render().catch((err) => {
  fill(
    root,
    h('main', { id: 'main' }, h('h1', null, 'The console could not start'), h('p', { role: 'alert' }, err instanceof Error ? err.message : String(err))),
  );
});
