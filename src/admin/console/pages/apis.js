// APIs (the Publisher): import an OpenAPI or Swagger file, set context, version, backend and
// plans, see the operations with their scopes and roles, move the lifecycle, re-import a new
// version after seeing what it changes, and the subscriptions to each API.
import {
  act,
  api,
  button,
  canChange,
  checkboxes,
  checkedValues,
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
  readOnlyNote,
  section,
  submitter,
  table,
  when,
} from '../lib.js';
/** @import { List, PageContext } from '../lib.js' */
/** @import { Plan, RateLimit } from './plans.js' */

/** @typedef {'CREATED' | 'PUBLISHED' | 'DEPRECATED' | 'RETIRED' | 'BLOCKED'} ApiState */

/**
 * An operation of an API (apiDto in src/apim/admin-routes.ts).
 * @typedef {object} Operation
 * @property {string} target the path template (`/accounts/{AccountId}`)
 * @property {string} verb
 * @property {string | null} operationId
 * @property {'Application' | 'None'} authType
 * @property {string[]} scopes
 * @property {string[]} flows
 * @property {boolean} idempotency
 * @property {boolean} jwsSignature
 * @property {RateLimit | null} throttlingLimit
 * @property {string[]} headers
 * @property {string[] | null} requestBody
 */

/**
 * An API, as the Publisher answers one (apiDto in src/apim/admin-routes.ts).
 * @typedef {object} Api
 * @property {string} id
 * @property {string} name
 * @property {string} context
 * @property {string} version
 * @property {ApiState} lifeCycleStatus
 * @property {string[]} policies the plans offered, the default first
 * @property {{ endpoint_type: string, production_endpoints: { url: string } }} endpointConfig
 * @property {string[]} requiredRoles
 * @property {boolean} verifyJwsSignature
 * @property {Operation[]} operations
 * @property {string} documentHash
 * @property {string} createdTime
 * @property {string} lastUpdatedTime
 */

/**
 * An application's subscription to an API (subscriptionDto in src/apim/admin-routes.ts); the
 * application is `applicationId` at `keyManager`.
 * @typedef {object} Subscription
 * @property {string} subscriptionId
 * @property {string} applicationId
 * @property {string} keyManager
 * @property {string} apiId
 * @property {string} throttlingPolicy
 * @property {'UNBLOCKED' | 'BLOCKED'} status
 * @property {string} createdTime
 */

/**
 * What re-importing a document would change (ReimportPreview in src/apim/catalogue.ts); an
 * operation is named `METHOD /path`.
 * @typedef {object} ReimportPreview
 * @property {{ before: string | null, after: string }} documentVersion
 * @property {{ added: string[], removed: string[], changed: { operation: string }[], unchanged: number }} operations
 * @property {{ before: string[], after: string[] }} requiredRoles
 */

const PUBLISHER = '/api/am/publisher/v4';
const DEVPORTAL = '/api/am/devportal/v3';
const POLICIES = '/api/am/admin/v4/throttling/policies/subscription';
/** @type {[string, string][]} */
const ROLES = [
  ['AISP', 'AISP'],
  ['PISP', 'PISP'],
  ['CBPII', 'CBPII'],
  ['ASPSP', 'ASPSP'],
];

/**
 * Which lifecycle actions each state allows (the server checks it again).
 * @type {Record<string, string[]>}
 */
const ACTIONS = {
  CREATED: ['Publish'],
  PUBLISHED: ['Deprecate', 'Block', 'Demote to Created'],
  DEPRECATED: ['Retire', 'Block', 'Re-Publish'],
  BLOCKED: ['Deprecate', 'Re-Publish'],
  RETIRED: [],
};

/** @param {string} state */
const stateBadge = (state) => h('span', { class: `badge state-${state.toLowerCase()}` }, state);

/**
 * The additionalProperties part of an import, from the form's fields (empty ones left to the document).
 * @param {HTMLFormElement} form
 */
function importProperties(form) {
  const data = new FormData(form);
  /** @param {string} name */
  const text = (name) => String(data.get(name) ?? '').trim();
  /** @type {{ name?: string, context?: string, version?: string, endpointConfig?: Api['endpointConfig'], policies?: string[], roles?: string[] }} */
  const props = {};
  if (text('name')) props.name = text('name');
  if (text('context')) props.context = text('context');
  if (text('version')) props.version = text('version');
  if (text('backend')) props.endpointConfig = { endpoint_type: 'http', production_endpoints: { url: text('backend') } };
  const plans = checkedValues(form, 'plans');
  if (plans.length) props.policies = plans;
  const roles = checkedValues(form, 'roles');
  if (roles.length) props.roles = roles;
  return props;
}

/**
 * An import's multipart body: the chosen file under `fileField`, and the form's settings.
 * @param {HTMLFormElement} form
 * @param {string} fileField
 * @param {HTMLInputElement} fileInput
 */
function multipart(form, fileField, fileInput) {
  const body = new FormData();
  const file = fileInput.files?.[0];
  if (file) body.append(fileField, file, file.name);
  body.append('additionalProperties', JSON.stringify(importProperties(form)));
  return body;
}

/** @param {PageContext} ctx */
export async function apisPage({ session, navigate }) {
  const [apis, plans] = await Promise.all([
    /** @type {Promise<List<Api>>} */ (api('GET', `${PUBLISHER}/apis`)),
    /** @type {Promise<List<Plan>>} */ (api('GET', POLICIES)),
  ]);
  const msg = messages();
  const list = table(
    'APIs',
    [
      { label: 'Name', cell: (a) => link(`/admin/apis/${enc(a.id)}`, a.name) },
      { label: 'Version', cell: (a) => a.version },
      { label: 'Context', cell: (a) => h('code', null, a.context) },
      { label: 'State', cell: (a) => stateBadge(a.lifeCycleStatus) },
      { label: 'Plans', cell: (a) => a.policies.join(', ') },
      { label: 'Operations', cell: (a) => a.operations.length },
    ],
    apis.list,
    { empty: 'No API yet: import an OpenAPI or Swagger file below.' },
  );

  /** @type {HTMLFormElement | null} */
  let importForm = null;
  if (canChange(session)) {
    const file = field('OpenAPI or Swagger file (JSON or YAML)', 'file', {
      kind: 'file',
      required: true,
      accept: '.json,.yaml,.yml,application/json,application/yaml',
    });
    const form = h(
      'form',
      { class: 'stack', 'aria-label': 'Import an API' },
      file,
      h(
        'div',
        { class: 'grid2' },
        field('Name', 'name', { hint: "Default: the document's info.title" }),
        field('Version', 'version', { hint: "Default: the document's info.version" }),
        field('Context', 'context', { hint: "Base path, e.g. /open-banking/v3.1/aisp. Default: the document's servers or basePath" }),
        field('Backend URL', 'backend', {
          kind: 'url',
          required: true,
          placeholder: 'https://backend.bank.internal/aisp',
          hint: 'Where the gateway sends calls (an allowed backend host)',
        }),
      ),
      checkboxes(
        'Business plans offered (the first checked is the default)',
        'plans',
        plans.list.map((p) => [p.policyName, p.displayName]),
        ['Unlimited'],
      ),
      checkboxes("Required TPP roles (default: from the operations' scopes)", 'roles', ROLES),
      h('button', { type: 'submit', class: 'primary' }, 'Import'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const submit = find(form, 'button[type="submit"]', HTMLButtonElement);
      const created = await act(
        submit,
        msg,
        () =>
          /** @type {Promise<Api>} */ (
            api('POST', `${PUBLISHER}/apis/import-openapi`, { form: multipart(form, 'file', find(file, 'input', HTMLInputElement)) })
          ),
      );
      if (created) navigate(`/apis/${enc(created.id)}`);
    });
    importForm = form;
  }
  return [
    h('h1', null, 'APIs'),
    readOnlyNote(session),
    section('Published and draft APIs', list),
    importForm
      ? section(
          'Import an API',
          h('p', { class: 'hint' }, 'The operations, their OAuth flows, scopes, idempotency and signing rules are read from the document.'),
          msg.el,
          importForm,
        )
      : null,
  ];
}

/** @param {PageContext} ctx */
export async function apiDetailPage({ session, params, navigate }) {
  const id = pathParam(params);
  const [a, plans, subs] = await Promise.all([
    /** @type {Promise<Api>} */ (api('GET', `${PUBLISHER}/apis/${enc(id)}`)),
    /** @type {Promise<List<Plan>>} */ (api('GET', POLICIES)),
    /** @type {Promise<List<Subscription>>} */ (api('GET', `${DEVPORTAL}/subscriptions`, { query: { apiId: id } })),
  ]);
  const admin = canChange(session);
  const msg = messages();
  const stateEl = h('span', null, stateBadge(a.lifeCycleStatus));

  const lifecycle = h(
    'div',
    { class: 'toolbar', role: 'group', 'aria-label': 'Lifecycle actions' },
    (ACTIONS[a.lifeCycleStatus] ?? []).map((action) =>
      button(
        action,
        async (event) => {
          const subscribeExisting = action === 'Publish' || action === 'Re-Publish' ? 'true' : undefined;
          const r = await act(event.currentTarget, msg, () =>
            api('POST', `${PUBLISHER}/apis/change-lifecycle`, { query: { action, apiId: a.id, subscribeExisting } }),
          );
          if (r) navigate(`/apis/${enc(a.id)}`, { replace: true });
        },
        { kind: action === 'Block' || action === 'Retire' ? 'danger' : 'primary', disabled: !admin },
      ),
    ),
  );

  const settings = h(
    'form',
    { class: 'stack', 'aria-label': 'API settings' },
    field('Backend URL', 'backend', { kind: 'url', value: a.endpointConfig.production_endpoints.url, required: true }),
    checkboxes(
      'Business plans offered (the first is the default)',
      'plans',
      plans.list.map((p) => [p.policyName, p.displayName]),
      a.policies,
    ),
    checkboxes('Required TPP roles', 'roles', ROLES, a.requiredRoles),
    field('Verify the x-jws-signature of requests that carry one', 'verifyJws', { kind: 'checkbox', value: a.verifyJwsSignature }),
    admin ? h('button', { type: 'submit', class: 'primary' }, 'Save settings') : null,
  );
  settings.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {
      endpointConfig: { endpoint_type: 'http', production_endpoints: { url: String(new FormData(settings).get('backend')).trim() } },
      policies: checkedValues(settings, 'plans'),
      requiredRoles: checkedValues(settings, 'roles'),
      verifyJwsSignature: find(settings, 'input[name="verifyJws"]', HTMLInputElement).checked,
    };
    await act(submitter(event), msg, () => api('PUT', `${PUBLISHER}/apis/${enc(a.id)}`, { json: body }), 'Settings saved.');
  });

  const operations = table(
    'Operations',
    [
      { label: 'Operation', cell: (o) => h('code', null, `${o.verb} ${o.target}`) },
      { label: 'OAuth flows', cell: (o) => o.flows.join(', ') || 'none' },
      { label: 'Scopes', cell: (o) => o.scopes.join(', ') || '—' },
      { label: 'Idempotency', cell: (o) => (o.idempotency ? 'required' : '—') },
      { label: 'JWS signature', cell: (o) => (o.jwsSignature ? 'required' : '—') },
      {
        label: 'Limit',
        cell: (o) => (o.throttlingLimit ? `${o.throttlingLimit.requestCount} per ${o.throttlingLimit.unitTime ?? 1} ${o.throttlingLimit.timeUnit}` : 'plan'),
      },
    ],
    a.operations,
  );

  const subsEl = h('div');
  /** @param {Subscription[]} list */
  const drawSubs = (list) =>
    fill(
      subsEl,
      table(
        'Subscriptions',
        [
          // Only a resident client (a registration) has an application page; an external key manager's is its client id.
          {
            label: 'Application',
            cell: (s) =>
              s.keyManager === 'Resident Key Manager' ? link(`/admin/applications/${enc(s.applicationId)}`, s.applicationId) : h('code', null, s.applicationId),
          },
          { label: 'Key manager', cell: (s) => s.keyManager },
          { label: 'Plan', cell: (s) => s.throttlingPolicy },
          { label: 'State', cell: (s) => h('span', { class: s.status === 'BLOCKED' ? 'badge bad' : 'badge ok' }, s.status) },
          { label: 'Since', cell: (s) => when(s.createdTime) },
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
                      if (r) drawSubs(/** @type {List<Subscription>} */ (await api('GET', `${DEVPORTAL}/subscriptions`, { query: { apiId: a.id } })).list);
                    },
                    { kind: s.status === 'BLOCKED' ? 'secondary' : 'danger' },
                  )
                : '—',
          },
        ],
        list,
        { empty: 'No application is subscribed to this API.' },
      ),
    );
  drawSubs(subs.list);

  let reimport = null;
  if (admin) {
    const file = field('New version of the document', 'file', { kind: 'file', required: true, accept: '.json,.yaml,.yml,application/json,application/yaml' });
    const preview = h('div', { class: 'preview', 'aria-live': 'polite' });
    const apply = button(
      'Apply the new version',
      async (event) => {
        const input = find(file, 'input', HTMLInputElement);
        const done = await act(
          event.currentTarget,
          msg,
          () => api('PUT', `${PUBLISHER}/apis/${enc(a.id)}/swagger`, { form: multipart(reimportForm, 'apiDefinition', input) }),
          'The new version is applied.',
        );
        if (done) navigate(`/apis/${enc(a.id)}`, { replace: true });
      },
      { kind: 'primary' },
    );
    apply.hidden = true;
    const reimportForm = h(
      'form',
      { class: 'stack', 'aria-label': 'Re-import' },
      file,
      h('button', { type: 'submit', class: 'secondary' }, 'Show what changes'),
      preview,
      apply,
    );
    reimportForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const input = find(file, 'input', HTMLInputElement);
      const p = await act(
        submitter(event),
        msg,
        () =>
          /** @type {Promise<ReimportPreview>} */ (
            api('POST', `${PUBLISHER}/apis/${enc(a.id)}/swagger/preview`, { form: multipart(reimportForm, 'apiDefinition', input) })
          ),
      );
      if (!p) return;
      msg.clear();
      const ops = p.operations;
      fill(
        preview,
        h('h3', null, 'What the new version changes'),
        facts([
          ['Document version', `${p.documentVersion.before ?? '—'} → ${p.documentVersion.after}`],
          [
            'Operations added',
            ops.added.length
              ? h(
                  'ul',
                  { class: 'plain' },
                  ops.added.map((o) => h('li', null, h('code', null, o))),
                )
              : 'none',
          ],
          [
            'Operations removed',
            ops.removed.length
              ? h(
                  'ul',
                  { class: 'plain' },
                  ops.removed.map((o) => h('li', null, h('code', null, o))),
                )
              : 'none',
          ],
          [
            'Operations changed',
            ops.changed.length
              ? h(
                  'ul',
                  { class: 'plain' },
                  ops.changed.map((c) => h('li', null, h('code', null, c.operation))),
                )
              : 'none',
          ],
          ['Operations unchanged', String(ops.unchanged)],
          ['Required roles', `${p.requiredRoles.before.join(', ') || 'none'} → ${p.requiredRoles.after.join(', ') || 'none'}`],
        ]),
      );
      apply.hidden = false;
    });
    reimport = section(
      'Re-import a new version',
      h('p', { class: 'hint' }, 'Nothing changes until you apply it; the routes are replaced in one write.'),
      reimportForm,
    );
  }

  const remove = admin
    ? button(
        'Delete this API',
        async (event) => {
          if (
            !(await confirmAction(
              `Delete ${a.name} ${a.version}?`,
              'Its routes stop at once and its subscriptions are deleted. This cannot be undone.',
              'Delete the API',
            ))
          )
            return;
          const done = await act(event.currentTarget, msg, () => api('DELETE', `${PUBLISHER}/apis/${enc(a.id)}`));
          if (done) navigate('/apis');
        },
        { kind: 'danger' },
      )
    : null;

  return [
    h('p', { class: 'crumbs' }, link('/admin/apis', 'APIs'), ' / ', a.name),
    h('h1', null, `${a.name} ${a.version}`),
    readOnlyNote(session),
    msg.el,
    section(
      'Overview',
      facts([
        ['Context', h('code', null, a.context)],
        ['State', stateEl],
        ['Plans', a.policies.join(', ')],
        ['Required roles', a.requiredRoles.join(', ') || 'none'],
        ['Backend', h('code', null, a.endpointConfig.production_endpoints.url)],
        ['Imported', when(a.createdTime)],
        ['Changed', when(a.lastUpdatedTime)],
      ]),
      admin ? lifecycle : null,
    ),
    section('Operations', operations),
    section('Settings', settings),
    section('Subscriptions', subsEl),
    reimport,
    remove ? section('Danger zone', remove) : null,
  ];
}
