// Business plans (subscription throttling policies): list, add, edit, remove. A plan in use
// cannot be removed; the server's answer says which APIs and how many subscriptions use it.
import {
  act,
  api,
  button,
  canChange,
  confirmAction,
  enc,
  facts,
  field,
  find,
  h,
  link,
  messages,
  pathParam,
  readOnlyNote,
  section,
  submitter,
  table,
} from '../lib.js';
/** @import { List, PageContext } from '../lib.js' */

/**
 * A request limit: requestCount per unitTime × timeUnit.
 * @typedef {{ requestCount: number, unitTime: number, timeUnit: 'sec' | 'min' | 'hour' | 'day' }} RateLimit
 */

/**
 * A business plan, as the admin API answers one (policyDto in src/apim/admin-routes.ts); a
 * requestCount of null is unlimited, a rateLimitCount of 0 no burst control.
 * @typedef {object} Plan
 * @property {string} policyId
 * @property {string} policyName
 * @property {string} displayName
 * @property {string} description
 * @property {boolean} isDeployed
 * @property {boolean} builtIn
 * @property {{ type: string, requestCount: RateLimit | null }} defaultLimit
 * @property {number} rateLimitCount
 * @property {'sec' | 'min'} [rateLimitTimeUnit]
 * @property {boolean} stopOnQuotaReach
 */

const POLICIES = '/api/am/admin/v4/throttling/policies/subscription';
/** @type {[string, string][]} */
const UNITS = [
  ['sec', 'second'],
  ['min', 'minute'],
  ['hour', 'hour'],
  ['day', 'day'],
];

/** @param {Plan} p */
const limitText = (p) =>
  p.defaultLimit?.requestCount
    ? `${p.defaultLimit.requestCount.requestCount} per ${p.defaultLimit.requestCount.unitTime} ${p.defaultLimit.requestCount.timeUnit}`
    : 'unlimited';
/** @param {Plan} p */
const burstText = (p) => (p.rateLimitCount > 0 ? `${p.rateLimitCount} per ${p.rateLimitTimeUnit}` : '—');

/**
 * The plan form; `plan` fills it for an edit (its name then fixed).
 * @param {Plan | null} plan
 * @param {(body: object, submit: HTMLButtonElement) => Promise<void>} onSubmit
 */
function planForm(plan, onSubmit) {
  const limit = plan?.defaultLimit?.requestCount;
  const form = h(
    'form',
    { class: 'stack', 'aria-label': plan ? 'Edit the plan' : 'Add a plan' },
    h(
      'div',
      { class: 'grid2' },
      plan ? null : field('Name', 'policyName', { required: true, hint: 'Letters, digits, _ and -; used by the APIs and subscriptions' }),
      field('Display name', 'displayName', { value: plan?.displayName }),
      field('Description', 'description', { value: plan?.description }),
      field('Requests allowed (empty: unlimited)', 'requestCount', { kind: 'number', value: limit?.requestCount }),
      field('Per how many', 'unitTime', { kind: 'number', value: limit?.unitTime ?? 1 }),
      field('Time unit', 'timeUnit', { kind: 'select', options: UNITS, value: limit?.timeUnit ?? 'min' }),
      field('Burst: requests (0: none)', 'rateLimitCount', { kind: 'number', value: plan?.rateLimitCount ?? 0 }),
      field('Burst per', 'rateLimitTimeUnit', {
        kind: 'select',
        options: [
          ['sec', 'second'],
          ['min', 'minute'],
        ],
        value: plan?.rateLimitTimeUnit ?? 'sec',
      }),
    ),
    field('Refuse calls (429) once the quota is reached', 'stopOnQuotaReach', { kind: 'checkbox', value: plan?.stopOnQuotaReach ?? true }),
    h('button', { type: 'submit', class: 'primary' }, plan ? 'Save the plan' : 'Add the plan'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const d = new FormData(form);
    /** @param {string} n */
    const num = (n) => (String(d.get(n) ?? '').trim() === '' ? undefined : Number(d.get(n)));
    const requestCount = num('requestCount');
    const burst = num('rateLimitCount') ?? 0;
    const body = {
      policyName: plan ? plan.policyName : String(d.get('policyName')).trim(),
      displayName: String(d.get('displayName') ?? '').trim() || undefined,
      description: String(d.get('description') ?? '').trim() || undefined,
      ...(requestCount === undefined
        ? {}
        : { defaultLimit: { type: 'REQUESTCOUNTLIMIT', requestCount: { requestCount, unitTime: num('unitTime') ?? 1, timeUnit: String(d.get('timeUnit')) } } }),
      rateLimitCount: burst,
      ...(burst > 0 ? { rateLimitTimeUnit: String(d.get('rateLimitTimeUnit')) } : {}),
      stopOnQuotaReach: find(form, 'input[name="stopOnQuotaReach"]', HTMLInputElement).checked,
    };
    void onSubmit(body, submitter(event));
  });
  return form;
}

/** @param {PageContext} ctx */
export async function plansPage({ session, navigate }) {
  const plans = /** @type {List<Plan>} */ (await api('GET', POLICIES));
  const msg = messages();
  const list = table(
    'Business plans',
    [
      { label: 'Name', cell: (p) => link(`/admin/plans/${enc(p.policyName)}`, p.policyName) },
      { label: 'Display name', cell: (p) => p.displayName },
      { label: 'Quota', cell: limitText },
      { label: 'Burst', cell: burstText },
      { label: 'Built in', cell: (p) => (p.builtIn ? 'yes' : 'no') },
    ],
    plans.list,
  );
  const add = canChange(session)
    ? planForm(null, async (body, submit) => {
        const created = await act(submit, msg, () => /** @type {Promise<Plan>} */ (api('POST', POLICIES, { json: body })));
        if (created) navigate(`/plans/${enc(created.policyName)}`);
      })
    : null;
  return [h('h1', null, 'Business plans'), readOnlyNote(session), section('Plans', list), add ? section('Add a plan', msg.el, add) : null];
}

/** @param {PageContext} ctx */
export async function planDetailPage({ session, params, navigate }) {
  const plan = /** @type {Plan} */ (await api('GET', `${POLICIES}/${enc(pathParam(params))}`));
  const msg = messages();
  // Built-in plans (Unlimited, Gold, Silver, Bronze) are neither edited nor removed.
  const admin = canChange(session) && !plan.builtIn;
  const edit = admin
    ? planForm(plan, async (body, submit) => {
        await act(submit, msg, () => api('PUT', `${POLICIES}/${enc(plan.policyName)}`, { json: body }), 'Plan saved.');
      })
    : null;
  const remove = admin
    ? button(
        'Remove this plan',
        async (event) => {
          if (
            !(await confirmAction(
              `Remove the plan ${plan.policyName}?`,
              'A plan offered by an API or used by a subscription cannot be removed; the answer says where.',
              'Remove the plan',
            ))
          )
            return;
          const done = await act(event.currentTarget, msg, () => api('DELETE', `${POLICIES}/${enc(plan.policyName)}`));
          if (done) navigate('/plans');
        },
        { kind: 'danger' },
      )
    : null;
  return [
    h('p', { class: 'crumbs' }, link('/admin/plans', 'Business plans'), ' / ', plan.policyName),
    h('h1', null, plan.displayName || plan.policyName),
    readOnlyNote(session),
    plan.builtIn ? h('p', { class: 'note' }, 'A built-in plan: add a custom plan to change limits.') : null,
    msg.el,
    section(
      'Plan',
      facts([
        ['Name', plan.policyName],
        ['Description', plan.description || '—'],
        ['Quota', limitText(plan)],
        ['Burst', burstText(plan)],
        ['Over the quota', plan.stopOnQuotaReach ? 'refused (429)' : 'allowed'],
        ['Built in', plan.builtIn ? 'yes' : 'no'],
      ]),
    ),
    edit ? section('Edit', edit) : null,
    remove ? section('Remove', remove) : null,
  ];
}
