// The registration log: the audit trail of every registration request with filters (outcome,
// reason code, software, client, time). Each rejection shows its code and what the code means,
// the answer to "why was my SSA rejected" without a shell.
import { act, api, enc, field, fill, find, h, link, messages, section, submitter, table, when } from '../lib.js';

/**
 * One registration request as the audit trail keeps it (GET /api/opendcr/v1/registrations/audit,
 * src/admin/operations-routes.ts); a rejection has its reason code and what the code means.
 * @typedef {object} AuditEvent
 * @property {number} id
 * @property {string} at
 * @property {'created' | 'updated' | 'deleted' | 'rejected'} event
 * @property {string | null} softwareId
 * @property {string | null} orgId
 * @property {string | null} clientId
 * @property {string | null} version the DCR version
 * @property {string | null} method the HTTP method
 * @property {string | null} code
 * @property {string | null} reason the error sent to the TPP
 * @property {string | null} meaning
 */

/**
 * Rejections counted by reason code (GET /api/opendcr/v1/registrations/rejections).
 * @typedef {{ code: string | null, count: number, meaning: string | null }} RejectionCount
 */

const OPS = '/api/opendcr/v1';
/** @type {[string, string][]} */
const EVENTS = [
  ['', 'every outcome'],
  ['created', 'created'],
  ['updated', 'updated'],
  ['deleted', 'deleted'],
  ['rejected', 'rejected'],
];

export async function logPage() {
  const msg = messages();
  const results = h('div', { 'aria-live': 'polite' });
  const counts = h('div');
  const params = new URLSearchParams(location.search);
  const filters = h(
    'form',
    { class: 'stack', role: 'search', 'aria-label': 'Filter the registration log' },
    h(
      'div',
      { class: 'grid3' },
      field('Outcome', 'event', { kind: 'select', options: EVENTS, value: params.get('event') ?? '' }),
      field('Reason code', 'code', { value: params.get('code') ?? '', placeholder: 'e.g. SSA_SIGNATURE_INVALID' }),
      field('Software ID', 'software_id', { value: params.get('software_id') ?? '' }),
      field('Client ID', 'client_id', { value: params.get('client_id') ?? '' }),
      field('Since (your local time)', 'since', { kind: 'datetime-local', value: params.get('since') ?? '' }),
      field('At most', 'limit', { kind: 'number', value: params.get('limit') ?? '100', hint: '1 to 1000 rows, newest first' }),
    ),
    h('button', { type: 'submit', class: 'primary' }, 'Show'),
  );

  /** @param {HTMLButtonElement} control */
  const load = async (control) => {
    const d = new FormData(filters);
    const q = Object.fromEntries(['event', 'code', 'software_id', 'client_id', 'limit'].map((k) => [k, String(d.get(k) ?? '').trim()]));
    const sinceLocal = String(d.get('since') ?? '');
    if (sinceLocal) q.since = new Date(sinceLocal).toISOString();
    // The filters are in the address, so a view can be shared or bookmarked.
    const shown = new URLSearchParams(Object.entries({ ...q, since: sinceLocal }).filter(([, v]) => v !== ''));
    history.replaceState(null, '', `/admin/log${shown.size ? `?${shown}` : ''}`);
    const [events, rejections] = await Promise.all([
      act(control, msg, () => /** @type {Promise<{ count: number, list: AuditEvent[] }>} */ (api('GET', `${OPS}/registrations/audit`, { query: q }))),
      /** @type {Promise<{ list: RejectionCount[] }>} */ (
        api('GET', `${OPS}/registrations/rejections`, { query: { since: q.since, software_id: q.software_id } })
      ).catch(() => null),
    ]);
    if (!events) return;
    msg.clear();
    fill(
      results,
      table(
        'Registration events',
        [
          { label: 'When', cell: (e) => when(e.at) },
          { label: 'Outcome', cell: (e) => h('span', { class: e.event === 'rejected' ? 'badge bad' : 'badge ok' }, e.event) },
          { label: 'Request', cell: (e) => `${e.method ?? ''} ${e.version ?? ''}`.trim() || '—' },
          { label: 'Software ID', cell: (e) => (e.softwareId ? h('code', null, e.softwareId) : '—') },
          { label: 'Client ID', cell: (e) => (e.clientId ? link(`/admin/applications/${enc(e.clientId)}`, e.clientId) : '—') },
          { label: 'Reason code', cell: (e) => (e.code ? h('code', null, e.code) : '—') },
          { label: 'What it means', cell: (e) => e.meaning ?? '—' },
          { label: 'Reason sent to the TPP', cell: (e) => e.reason ?? '—' },
        ],
        events.list,
        { empty: 'No registration event matches.' },
      ),
    );
    fill(
      counts,
      rejections
        ? table(
            'Rejections by reason code',
            [
              { label: 'Reason code', cell: (r) => h('code', null, r.code ?? 'none') },
              { label: 'Count', cell: (r) => r.count },
              { label: 'What it means', cell: (r) => r.meaning ?? '—' },
            ],
            rejections.list,
            { empty: 'No rejection in this period.' },
          )
        : null,
    );
  };
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    void load(submitter(event));
  });
  const page = [h('h1', null, 'Registration log'), section('Filters', filters, msg.el), section('Events', results), section('Rejections by reason', counts)];
  await load(find(filters, 'button', HTMLButtonElement));
  return page;
}
