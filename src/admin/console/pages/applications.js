// Applications (TPP registrations, the resident key manager's clients): search by client_id,
// software_id or org_id; the detail shows the SSA claims decoded, the certificate subject, the key
// set and its last fetch, the subscriptions and the tokens issued; block a subscription, change
// its plan, delete the registration. An application is its key manager and client id together: an
// external key manager's client with the same client id is another application, never shown here.
import {
  act,
  api,
  button,
  canChange,
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
  readOnlyNote,
  section,
  submitter,
  table,
  when,
} from '../lib.js';
/** @import { List, PageContext } from '../lib.js' */
/** @import { Api, Subscription } from './apis.js' */

/**
 * A registration as an application of the resident key manager (applicationDto in
 * src/apim/admin-routes.ts).
 * @typedef {object} Application
 * @property {string} applicationId the client id
 * @property {string} keyManager
 * @property {string} name
 * @property {string} throttlingPolicy
 * @property {string} status
 * @property {string} owner
 * @property {{ software_id: string, org_id: string, software_roles: string, software_environment: string, dcr_version: string }} attributes
 * @property {string} createdTime
 * @property {string} lastUpdatedTime
 */

/**
 * A remote key set as this server process holds it: never fetched yet, fetchedAt null and keys null.
 * @typedef {{ url: string, fetchedAt: string | null, fetches: number, keys: number | null, lastError: { at: string | null, message: string } | null }} KeySetState
 */

/**
 * One registration in full (GET /api/opendcr/v1/registrations/{clientId}, src/admin/console-api.ts):
 * the software statement decoded (null if it cannot be), the client metadata without secrets.
 * @typedef {object} Registration
 * @property {string} clientId
 * @property {string} softwareId
 * @property {string} orgId
 * @property {string[]} roles
 * @property {string} environment
 * @property {string} dcrVersion
 * @property {string} createdAt
 * @property {string} updatedAt
 * @property {string | null} softwareName
 * @property {string | null} orgName
 * @property {{ header: { alg?: string, kid?: string, [name: string]: unknown }, claims: Record<string, unknown> } | null} ssa
 * @property {{ token_endpoint_auth_method?: string, redirect_uris?: string[], [name: string]: unknown }} metadata
 * @property {string | null} certificateSubject
 * @property {KeySetState | null} keySet
 * @property {number} tokensIssued
 */

const DEVPORTAL = '/api/am/devportal/v3';
const PUBLISHER = '/api/am/publisher/v4';
const OPS = '/api/opendcr/v1';
const RESIDENT = 'Resident Key Manager';
const PAGE = 50;

/** @param {PageContext} ctx */
export async function applicationsPage({ session }) {
  const msg = messages();
  const results = h('div', { 'aria-live': 'polite' });
  const search = h(
    'form',
    { class: 'inline', role: 'search', 'aria-label': 'Search applications' },
    field('Client ID, software ID or organisation ID', 'query', { kind: 'search', hint: 'Exact match; empty lists every application, newest first' }),
    h('button', { type: 'submit', class: 'primary' }, 'Search'),
  );
  let offset = 0;
  /** @param {HTMLButtonElement} control */
  const load = async (control) => {
    const query = String(new FormData(search).get('query') ?? '').trim();
    const page = await act(
      control,
      msg,
      () => /** @type {Promise<List<Application>>} */ (api('GET', `${DEVPORTAL}/applications`, { query: { query, limit: PAGE, offset } })),
    );
    if (!page) return;
    msg.clear();
    const { total } = page.pagination;
    const pager = h(
      'div',
      { class: 'toolbar' },
      h('span', null, total === 0 ? '' : `${offset + 1}–${offset + page.list.length} of ${total}`),
      offset > 0
        ? button(
            'Previous',
            (e) => {
              offset = Math.max(0, offset - PAGE);
              void load(e.currentTarget);
            },
            { kind: 'secondary' },
          )
        : null,
      offset + page.list.length < total
        ? button(
            'Next',
            (e) => {
              offset += PAGE;
              void load(e.currentTarget);
            },
            { kind: 'secondary' },
          )
        : null,
    );
    fill(
      results,
      table(
        'Applications',
        [
          { label: 'Name', cell: (a) => link(`/admin/applications/${enc(a.applicationId)}`, a.name) },
          { label: 'Client ID', cell: (a) => h('code', null, a.applicationId) },
          { label: 'Key manager', cell: (a) => a.keyManager },
          { label: 'Software ID', cell: (a) => h('code', null, a.attributes.software_id) },
          { label: 'Organisation', cell: (a) => h('code', null, a.attributes.org_id) },
          { label: 'Roles', cell: (a) => a.attributes.software_roles },
          { label: 'Registered', cell: (a) => when(a.createdTime) },
        ],
        page.list,
        { empty: query ? 'No application matches.' : 'No TPP has registered yet.' },
      ),
      pager,
    );
  };
  search.addEventListener('submit', (event) => {
    event.preventDefault();
    offset = 0;
    void load(submitter(event));
  });
  const page = [h('h1', null, 'Applications'), readOnlyNote(session), section('Search', search, msg.el, results)];
  await load(find(search, 'button', HTMLButtonElement));
  return page;
}

/** @param {PageContext} ctx */
export async function applicationDetailPage({ session, params, navigate }) {
  const clientId = pathParam(params);
  // A registration is the resident key manager's client: only its subscriptions are this application's.
  const mine = { applicationId: clientId, keyManager: RESIDENT };
  const [reg, subs, apis] = await Promise.all([
    /** @type {Promise<Registration>} */ (api('GET', `${OPS}/registrations/${enc(clientId)}`)),
    /** @type {Promise<List<Subscription>>} */ (api('GET', `${DEVPORTAL}/subscriptions`, { query: mine })),
    /** @type {Promise<List<Api>>} */ (api('GET', `${PUBLISHER}/apis`)),
  ]);
  const admin = canChange(session);
  const msg = messages();
  const apiById = new Map(apis.list.map((a) => [a.id, a]));

  const subsEl = h('div');
  /** @param {Subscription[]} list */
  const drawSubs = (list) =>
    fill(
      subsEl,
      table(
        'Subscriptions',
        [
          {
            label: 'API',
            cell: (s) => {
              const a = apiById.get(s.apiId);
              return a ? link(`/admin/apis/${enc(a.id)}`, `${a.name} ${a.version}`) : s.apiId;
            },
          },
          { label: 'State', cell: (s) => h('span', { class: s.status === 'BLOCKED' ? 'badge bad' : 'badge ok' }, s.status) },
          {
            label: 'Plan',
            cell: (s) => {
              const plans = apiById.get(s.apiId)?.policies ?? [s.throttlingPolicy];
              if (!admin) return s.throttlingPolicy;
              const f = h(
                'form',
                { class: 'inline compact', 'aria-label': `Plan of the subscription to ${apiById.get(s.apiId)?.name ?? s.apiId}` },
                field('Plan', 'plan', { kind: 'select', options: plans.map((p) => [p, p]), value: s.throttlingPolicy }),
                h('button', { type: 'submit', class: 'secondary' }, 'Change plan'),
              );
              f.addEventListener('submit', async (event) => {
                event.preventDefault();
                const plan = String(new FormData(f).get('plan'));
                await act(
                  submitter(event),
                  msg,
                  () => api('PUT', `${DEVPORTAL}/subscriptions/${enc(s.subscriptionId)}`, { json: { throttlingPolicy: plan } }),
                  `Plan changed to ${plan}.`,
                );
              });
              return f;
            },
          },
          {
            label: 'Action',
            cell: (s) =>
              admin
                ? button(
                    s.status === 'BLOCKED' ? 'Unblock' : 'Block',
                    async (event) => {
                      const which = s.status === 'BLOCKED' ? 'unblock-subscription' : 'block-subscription';
                      const r = await act(
                        event.currentTarget,
                        msg,
                        () => api('POST', `${PUBLISHER}/subscriptions/${which}`, { query: { subscriptionId: s.subscriptionId } }),
                        `Subscription ${s.status === 'BLOCKED' ? 'unblocked' : 'blocked'}.`,
                      );
                      if (r) await reloadSubs();
                    },
                    { kind: s.status === 'BLOCKED' ? 'secondary' : 'danger' },
                  )
                : '—',
          },
        ],
        list,
        { empty: 'Not subscribed to any API.' },
      ),
    );
  drawSubs(subs.list);
  const reloadSubs = async () => drawSubs(/** @type {List<Subscription>} */ (await api('GET', `${DEVPORTAL}/subscriptions`, { query: mine })).list);

  // Subscribe by hand to a published API the registration did not get (e.g. published later without --subscribe-existing).
  /** @type {HTMLFormElement | null} */
  let subscribe = null;
  const published = apis.list.filter((a) => a.lifeCycleStatus === 'PUBLISHED');
  if (admin && published.length) {
    const apiField = field('API', 'apiId', { kind: 'select', options: published.map((a) => [a.id, `${a.name} ${a.version}`]) });
    const planField = field('Plan', 'plan', { kind: 'select', options: [] });
    const fillPlans = () => {
      const chosen = published.find((a) => a.id === find(apiField, 'select', HTMLSelectElement).value);
      fill(
        find(planField, 'select', HTMLSelectElement),
        (chosen?.policies ?? []).map((p) => h('option', { value: p }, p)),
      );
    };
    find(apiField, 'select', HTMLSelectElement).addEventListener('change', fillPlans);
    fillPlans();
    const form = h(
      'form',
      { class: 'inline', 'aria-label': 'Subscribe to an API' },
      apiField,
      planField,
      h('button', { type: 'submit', class: 'secondary' }, 'Subscribe'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const d = new FormData(form);
      const done = await act(
        submitter(event),
        msg,
        () => api('POST', `${DEVPORTAL}/subscriptions`, { json: { ...mine, apiId: String(d.get('apiId')), throttlingPolicy: String(d.get('plan')) } }),
        'Subscribed.',
      );
      if (done) await reloadSubs();
    });
    subscribe = form;
  }

  const claims = reg.ssa?.claims ?? {};
  const ssaRows = Object.entries(claims).map(([k, v]) => ({ k, v }));
  const ssaTable = table(
    'Software statement claims',
    [
      { label: 'Claim', cell: (r) => h('code', null, r.k) },
      {
        label: 'Value',
        cell: (r) =>
          typeof r.v === 'object'
            ? pretty(r.v)
            : (r.k === 'iat' || r.k === 'exp') && typeof r.v === 'number'
              ? `${r.v} (${when(new Date(r.v * 1000).toISOString())})`
              : String(r.v),
      },
    ],
    ssaRows,
    { empty: 'The software statement could not be decoded.' },
  );

  const remove = admin
    ? button(
        'Delete this registration',
        async (event) => {
          if (
            !(await confirmAction(
              `Delete the registration ${reg.clientId}?`,
              `The client of ${reg.softwareName ?? reg.softwareId}, its tokens and its subscriptions are deleted at once on every host; the TPP must register again. This cannot be undone.`,
              'Delete the registration',
            ))
          )
            return;
          const done = await act(event.currentTarget, msg, () => api('DELETE', `${OPS}/registrations/${enc(reg.clientId)}`));
          if (done) navigate('/applications');
        },
        { kind: 'danger' },
      )
    : null;

  return [
    h('p', { class: 'crumbs' }, link('/admin/applications', 'Applications'), ' / ', reg.clientId),
    h('h1', null, reg.softwareName ?? reg.softwareId),
    readOnlyNote(session),
    msg.el,
    section(
      'Registration',
      facts([
        ['Client ID', h('code', null, reg.clientId)],
        ['Key manager', RESIDENT],
        ['Software ID', h('code', null, reg.softwareId)],
        ['Organisation', [h('code', null, reg.orgId), reg.orgName ? ` (${reg.orgName})` : '']],
        ['Roles', reg.roles.join(', ')],
        ['Environment', reg.environment],
        ['DCR version', reg.dcrVersion],
        ['Registered', when(reg.createdAt)],
        ['Updated', when(reg.updatedAt)],
        ['Certificate subject', reg.certificateSubject ? h('code', null, reg.certificateSubject) : '—'],
        ['Token endpoint authentication', reg.metadata.token_endpoint_auth_method ?? '—'],
        [
          'Redirect URIs',
          Array.isArray(reg.metadata.redirect_uris)
            ? h(
                'ul',
                { class: 'plain' },
                reg.metadata.redirect_uris.map((u) => h('li', null, h('code', null, u))),
              )
            : '—',
        ],
        ['Tokens issued', String(reg.tokensIssued)],
      ]),
    ),
    section(
      'Key set',
      reg.keySet
        ? facts([
            ['URL', h('code', null, reg.keySet.url)],
            ['Last fetch (this server process)', reg.keySet.fetchedAt ? when(reg.keySet.fetchedAt) : 'not fetched by this process yet'],
            ['Keys', reg.keySet.keys === null ? '—' : String(reg.keySet.keys)],
            ['Last error', reg.keySet.lastError ? `${when(reg.keySet.lastError.at)}: ${reg.keySet.lastError.message}` : 'none'],
          ])
        : h('p', null, 'The registration names no key set URL.'),
    ),
    section('Subscriptions', subsEl, subscribe ? h('h3', null, 'Subscribe to an API') : null, subscribe),
    section(
      'Software statement',
      h('p', { class: 'hint' }, 'Verified when the TPP registered; decoded here.'),
      reg.ssa
        ? facts([
            ['Algorithm', reg.ssa.header.alg],
            ['Key ID', h('code', null, String(reg.ssa.header.kid ?? '—'))],
          ])
        : null,
      ssaTable,
    ),
    section('Client metadata', pretty(reg.metadata)),
    remove ? section('Danger zone', remove) : null,
  ];
}
