// Consents: customer care's page. Find a customer's consents (by customer, TPP, consent id, type,
// status and creation date), read one with its whole history, its accounts and the tokens it
// has, and revoke it with a reason that is recorded (docs/consents.md#customer-care). The
// dashboard's consent figures are drawn here too (consentFigures).
import {
  act,
  api,
  ApiError,
  button,
  confirmAction,
  enc,
  facts,
  field,
  fill,
  find,
  h,
  link,
  messages,
  pathParam,
  pretty,
  section,
  submitter,
  table,
  when,
} from '../lib.js';
/** @import { Child, PageContext, Session } from '../lib.js' */

/**
 * A consent as the operations API shows it (src/admin/consent-routes.ts).
 * @typedef {object} Consent
 * @property {string} consentId
 * @property {string} type
 * @property {string} status AWAU, AUTH, RJCT, CANC, EXPD or COND
 * @property {string} apiVersion
 * @property {string} keyManager
 * @property {string} clientId
 * @property {{ name: string | null, softwareId: string, orgId: string } | null} tpp its registration, when this server holds it
 * @property {string | null} psu
 * @property {string[]} accounts
 * @property {string} createdAt
 * @property {string} statusUpdatedAt
 * @property {string | null} expiresAt
 * @property {string | null} deletedAt
 * @property {Record<string, unknown>} data
 */

/**
 * One change of a consent's status.
 * @typedef {{ at: string, from: string | null, to: string, actor: string, actorId: string | null, reason: string | null }} ConsentChange
 */

/**
 * A consent with its history and what its grant holds.
 * @typedef {Consent & { history: ConsentChange[], tokens: { kind: string, issuedAt: string | null, expiresAt: string | null }[] }} ConsentDetail
 */

/**
 * What happened to consents on one UTC day (GET /api/opendcr/v1/consent-figures).
 * @typedef {{ day: string, created: number, authorised: number, rejected: number, revoked: { psu: number, staff: number, tpp: number }, expired: number, consumed: number }} DayFigures
 */

const OPS = '/api/opendcr/v1';

/** @type {[string, string][]} */
const TYPES = [
  ['', 'every type'],
  ['account-access', 'account access'],
  ['domestic-payment', 'domestic payment'],
  ['domestic-scheduled-payment', 'domestic scheduled payment'],
  ['domestic-standing-order', 'domestic standing order'],
  ['international-payment', 'international payment'],
  ['international-scheduled-payment', 'international scheduled payment'],
  ['international-standing-order', 'international standing order'],
  ['funds-confirmation', 'funds confirmation'],
  ['domestic-vrp', 'variable recurring payments'],
];

/** @type {Record<string, string>} */
const STATUS = {
  AWAU: 'awaiting the customer',
  AUTH: 'authorised',
  RJCT: 'rejected',
  CANC: 'revoked',
  EXPD: 'expired',
  COND: 'used (payment made)',
};
/** @type {[string, string][]} */
const STATUSES = [['', 'every status'], ...Object.entries(STATUS)];

/** @type {Record<string, string>} */
const ACTORS = { tpp: 'the TPP', psu: 'the customer', bank: "the bank's rules", system: 'the clock', staff: 'bank staff' };

/** @param {Session} session */
const mayRevoke = (session) => session.role === 'admin' || session.role === 'customer_care';

/** @param {Consent} c */
const tppCell = (c) => [c.tpp?.name ?? 'unknown TPP', h('br'), h('code', null, c.clientId)];

/** @param {string} status */
const statusBadge = (status) => h('span', { class: status === 'AUTH' ? 'badge ok' : status === 'AWAU' ? 'badge' : 'badge bad' }, STATUS[status] ?? status);

/** A local date (YYYY-MM-DD of an <input type=date>) as the start of that day in UTC, for the API. */
const dayOf = (/** @type {string} */ v) => (v ? `${v}T00:00:00Z` : '');

/** The day after a local date, for an inclusive "to". */
function dayAfter(/** @type {string} */ v) {
  if (!v) return '';
  const d = new Date(`${v}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString();
}

export async function consentsPage() {
  const msg = messages();
  const results = h('div', { 'aria-live': 'polite' });
  const params = new URLSearchParams(location.search);
  const filters = h(
    'form',
    { class: 'stack', role: 'search', 'aria-label': 'Find consents' },
    h(
      'div',
      { class: 'grid3' },
      field('Customer (PSU id)', 'psu', { value: params.get('psu') ?? '', autocomplete: 'off' }),
      field('TPP', 'tpp', { value: params.get('tpp') ?? '', hint: 'its name, software ID, organisation ID or client ID' }),
      field('Consent ID', 'consent_id', { value: params.get('consent_id') ?? '' }),
      field('Type', 'type', { kind: 'select', options: TYPES, value: params.get('type') ?? '' }),
      field('Status', 'status', { kind: 'select', options: STATUSES, value: params.get('status') ?? '' }),
      field('Created from', 'from', { kind: 'date', value: params.get('from') ?? '' }),
      field('Created to', 'to', { kind: 'date', value: params.get('to') ?? '', hint: 'that day included' }),
    ),
    h('button', { type: 'submit', class: 'primary' }, 'Find'),
  );

  /**
   * @param {HTMLButtonElement} control
   * @param {string} [before] the next page's token
   */
  const load = async (control, before) => {
    const d = new FormData(filters);
    const v = (/** @type {string} */ k) => String(d.get(k) ?? '').trim();
    const shown = new URLSearchParams(
      Object.entries({ psu: v('psu'), tpp: v('tpp'), consent_id: v('consent_id'), type: v('type'), status: v('status'), from: v('from'), to: v('to') }).filter(
        ([, x]) => x !== '',
      ),
    );
    history.replaceState(null, '', `/admin/consents${shown.size ? `?${shown}` : ''}`);
    const query = {
      psu: v('psu'),
      tpp: v('tpp'),
      consent_id: v('consent_id'),
      type: v('type'),
      status: v('status'),
      from: dayOf(v('from')),
      to: dayAfter(v('to')),
      deleted: 'true',
      limit: '50',
      before: before ?? '',
    };
    const found = await act(
      control,
      msg,
      () => /** @type {Promise<{ count: number, list: Consent[], next?: string, tppSearchTruncated?: boolean }>} */ (api('GET', `${OPS}/consents`, { query })),
    );
    if (!found) return;
    msg.clear();
    const more = found.next
      ? button(
          'Older consents',
          (event) => {
            void load(event.currentTarget, found.next);
          },
          { kind: 'secondary' },
        )
      : null;
    fill(
      results,
      found.tppSearchTruncated ? h('p', { class: 'note' }, 'The TPP name search stopped at its limit: search by software ID or client ID to be sure.') : null,
      table(
        'Consents',
        [
          { label: 'Created', cell: (c) => link(`/admin/consents/${enc(c.consentId)}`, when(c.createdAt)) },
          { label: 'Type', cell: (c) => c.type.replaceAll('-', ' ') },
          { label: 'Status', cell: (c) => [statusBadge(c.status), c.deletedAt ? ' (deleted by the TPP)' : ''] },
          { label: 'TPP', cell: tppCell },
          { label: 'Customer', cell: (c) => (c.psu ? h('code', null, c.psu) : '—') },
          { label: 'Ends', cell: (c) => when(c.expiresAt) },
        ],
        found.list,
        { empty: 'No consent matches.' },
      ),
      more ? h('div', { class: 'toolbar' }, more) : null,
    );
  };
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    void load(submitter(event));
  });
  const page = [h('h1', null, 'Consents'), section('Find consents', filters, msg.el), section('Results', results)];
  await load(find(filters, 'button', HTMLButtonElement));
  return /** @type {Child} */ (page);
}

/** @param {PageContext} ctx */
export async function consentDetailPage(ctx) {
  const id = pathParam(ctx.params);
  const c = /** @type {ConsentDetail} */ (await api('GET', `${OPS}/consents/${enc(id)}`));
  const msg = messages();
  const stoppable = !c.deletedAt && (c.status === 'AWAU' || (c.status === 'AUTH' && ['account-access', 'funds-confirmation', 'domestic-vrp'].includes(c.type)));
  /** @type {Child} */
  let revoke = null;
  if (mayRevoke(ctx.session) && stoppable) {
    const reason = field('Reason', 'reason', { required: true, hint: 'recorded in the consent history, e.g. "customer phoned: lost trust in the TPP"' });
    const form = h(
      'form',
      { class: 'stack', 'aria-label': 'Revoke this consent' },
      reason,
      h('button', { type: 'submit', class: 'danger' }, c.status === 'AUTH' ? 'Revoke consent' : 'Reject consent'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const text = String(new FormData(form).get('reason') ?? '').trim();
      if (!text) {
        msg.error(new ApiError(400, 'REASON_REQUIRED', 'give the reason the customer or the bank has'));
        return;
      }
      const who = c.tpp?.name ?? c.clientId;
      const ok = await confirmAction(
        c.status === 'AUTH' ? 'Revoke this consent?' : 'Reject this consent?',
        c.status === 'AUTH'
          ? `${who} loses access at once: its tokens stop on every host, and it is told the consent was revoked. This cannot be undone.`
          : `${who} can no longer ask the customer to authorise it. This cannot be undone.`,
        c.status === 'AUTH' ? 'Revoke' : 'Reject',
      );
      if (!ok) return;
      const done = await act(submitter(event), msg, () => api('POST', `${OPS}/consents/${enc(id)}/stop`, { json: { reason: text.slice(0, 200) } }));
      if (done) await ctx.refresh();
    });
    revoke = section('Revoke', form);
  }
  return [
    h('h1', null, `Consent ${c.consentId}`),
    msg.el,
    section(
      'Consent',
      facts([
        ['Status', [statusBadge(c.status), c.deletedAt ? ` (deleted by the TPP ${when(c.deletedAt)})` : '']],
        ['Type', c.type.replaceAll('-', ' ')],
        ['TPP', c.tpp ? [c.tpp.name ?? 'unnamed', ' — software ', h('code', null, c.tpp.softwareId)] : 'not registered here'],
        // Customer care reaches no application page: the id is shown, not linked.
        ['Client ID', ctx.session.role === 'customer_care' ? h('code', null, c.clientId) : link(`/admin/applications/${enc(c.clientId)}`, c.clientId)],
        ['Customer', c.psu ? h('code', null, c.psu) : 'not yet authorised'],
        [
          'Accounts',
          c.accounts.length
            ? h(
                'ul',
                null,
                c.accounts.map((a) => h('li', null, h('code', null, a))),
              )
            : '—',
        ],
        ['Created', when(c.createdAt)],
        ['Status since', when(c.statusUpdatedAt)],
        ['Ends', when(c.expiresAt)],
        ['API version', c.apiVersion],
      ]),
    ),
    section(
      'History',
      table(
        'Status history',
        [
          { label: 'When', cell: (e) => when(e.at) },
          {
            label: 'Change',
            cell: (e) =>
              e.from === null
                ? `created: ${STATUS[e.to] ?? e.to}`
                : e.from === e.to
                  ? 'deleted by the TPP'
                  : `${STATUS[e.from] ?? e.from} → ${STATUS[e.to] ?? e.to}`,
          },
          { label: 'By', cell: (e) => [ACTORS[e.actor] ?? e.actor, e.actorId ? [' ', h('code', null, e.actorId)] : ''] },
          { label: 'Reason', cell: (e) => e.reason ?? '—' },
        ],
        c.history,
      ),
    ),
    section(
      'Tokens',
      h('p', { class: 'hint' }, 'What the consent’s grant holds now. JWT access tokens are not stored; they stop with the consent all the same.'),
      table(
        'Tokens of this consent',
        [
          { label: 'Kind', cell: (t) => t.kind },
          { label: 'Issued', cell: (t) => when(t.issuedAt) },
          { label: 'Expires', cell: (t) => when(t.expiresAt) },
        ],
        c.tokens,
        { empty: 'No token is live under this consent.' },
      ),
    ),
    section('What the TPP asked for', pretty(c.data)),
    revoke,
    h('p', null, link('/admin/consents', 'Back to consents')),
  ];
}

/** The dashboard's consent figures: each of the last 30 days, and the totals. */
export async function consentFigures() {
  const f = /** @type {{ since: string, days: DayFigures[] }} */ (await api('GET', `${OPS}/consent-figures`, { query: { days: 30 } }));
  const total = f.days.reduce(
    (t, d) => ({
      created: t.created + d.created,
      authorised: t.authorised + d.authorised,
      rejected: t.rejected + d.rejected,
      revokedPsu: t.revokedPsu + d.revoked.psu,
      revokedStaff: t.revokedStaff + d.revoked.staff,
      revokedTpp: t.revokedTpp + d.revoked.tpp,
      expired: t.expired + d.expired,
    }),
    { created: 0, authorised: 0, rejected: 0, revokedPsu: 0, revokedStaff: 0, revokedTpp: 0, expired: 0 },
  );
  const active = f.days
    .filter((d) => d.created + d.authorised + d.rejected + d.revoked.psu + d.revoked.staff + d.revoked.tpp + d.expired + d.consumed > 0)
    .reverse();
  return [
    facts([
      ['Created', total.created],
      ['Authorised', total.authorised],
      ['Rejected', total.rejected],
      ['Revoked by customers', total.revokedPsu],
      ['Revoked by bank staff', total.revokedStaff],
      ['Revoked (deleted) by TPPs', total.revokedTpp],
      ['Expired', total.expired],
    ]),
    table(
      'Consents per day, last 30 days (UTC)',
      [
        { label: 'Day', cell: (d) => d.day },
        { label: 'Created', cell: (d) => d.created },
        { label: 'Authorised', cell: (d) => d.authorised },
        { label: 'Rejected', cell: (d) => d.rejected },
        { label: 'Revoked by customers', cell: (d) => d.revoked.psu },
        { label: 'by staff', cell: (d) => d.revoked.staff },
        { label: 'by TPPs', cell: (d) => d.revoked.tpp },
        { label: 'Expired', cell: (d) => d.expired },
        { label: 'Used', cell: (d) => d.consumed },
      ],
      active,
      { empty: 'No consent activity in the last 30 days.' },
    ),
  ];
}
