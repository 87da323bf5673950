// Key managers: the resident one (this server) and external OpenID providers added by their
// discovery URL (validated when saved: the server fetches the document and key set, and the page
// shows what it discovered), with token handling, claim mappings, enable and disable.
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
  when,
} from '../lib.js';
/** @import { List, PageContext } from '../lib.js' */

/**
 * A key manager, as the admin API answers one (keyManagerDto in src/apim/admin-routes.ts): type
 * `default` is the resident one (this server), `custom` an external OpenID provider. The
 * introspection client's secret is never sent.
 * @typedef {object} KeyManager
 * @property {string} id
 * @property {string} name
 * @property {string} displayName
 * @property {'default' | 'custom'} type
 * @property {boolean} enabled
 * @property {string} issuer
 * @property {string | null} wellKnownEndpoint
 * @property {{ jwks: string | null, introspection: string | null, token: string | null, revoke: string | null }} endpoints
 * @property {{ type: string, value: string } | null} certificates
 * @property {boolean} enableSelfValidationJWT false: tokens are introspected
 * @property {{ type: 'REFERENCE' | 'JWT' | 'CUSTOM', value: string }[]} tokenValidation which tokens it owns (none: all of its issuer)
 * @property {string} consumerKeyClaim
 * @property {string} scopesClaim
 * @property {{ introspection_client_id?: string, audience?: string, roles_claim?: string }} additionalProperties
 * @property {string} createdTime
 * @property {string} lastUpdatedTime
 */

const KEY_MANAGERS = '/api/am/admin/v4/key-managers';

/** @param {boolean} enabled */
const stateBadge = (enabled) => h('span', { class: enabled ? 'badge ok' : 'badge bad' }, enabled ? 'enabled' : 'disabled');

/**
 * The key manager form; `km` fills it for an edit.
 * @param {KeyManager | null} km
 * @param {(body: object, submit: HTMLButtonElement) => Promise<void>} onSubmit
 */
function keyManagerForm(km, onSubmit) {
  const handling = km?.tokenValidation?.[0];
  const form = h(
    'form',
    { class: 'stack', 'aria-label': km ? 'Edit the key manager' : 'Add a key manager' },
    h(
      'div',
      { class: 'grid2' },
      km ? null : field('Name', 'name', { required: true, hint: 'Unique; used in the API' }),
      field('Display name', 'displayName', { value: km?.displayName }),
      field('Discovery URL', 'wellKnownEndpoint', {
        kind: 'url',
        required: true,
        value: km?.wellKnownEndpoint ?? '',
        placeholder: 'https://idp.example.com/.well-known/openid-configuration',
        hint: 'Fetched when you save: issuer, key set and endpoints are read from it',
      }),
      field('Issuer (if it differs from the discovery document)', 'issuer', { value: km?.issuer ?? '' }),
      field('Expected audience (aud)', 'audience', { value: km?.additionalProperties?.audience ?? '', hint: 'Empty: not checked' }),
      field('Token validation', 'validation', {
        kind: 'select',
        options: [
          ['jwt', 'self-contained JWT (signature by the key set)'],
          ['introspection', 'introspection (RFC 7662)'],
        ],
        value: km && !km.enableSelfValidationJWT ? 'introspection' : 'jwt',
      }),
      field('Introspection client ID', 'introspection_client_id', {
        value: km?.additionalProperties?.introspection_client_id ?? '',
        hint: 'Only for introspection',
      }),
      field('Introspection client secret', 'introspection_client_secret', {
        kind: 'password',
        autocomplete: 'new-password',
        hint: km ? 'Never shown; enter it again to keep introspection' : 'Only for introspection',
      }),
      field('Token handling: which tokens it owns', 'handlingType', {
        kind: 'select',
        options: [
          ['', 'all tokens of its issuer'],
          ['JWT', 'JWTs whose claim matches'],
          ['REFERENCE', 'opaque tokens matching a pattern'],
        ],
        value: handling?.type ?? '',
      }),
      field('Token handling: claim or pattern', 'handlingValue', {
        value: handling?.value ?? '',
        hint: 'e.g. iss=https://idp.example.com, or a regular expression for opaque tokens',
      }),
      field('Claim carrying the client ID', 'consumerKeyClaim', { value: km?.consumerKeyClaim ?? '', placeholder: 'azp' }),
      field('Claim carrying the scopes', 'scopesClaim', { value: km?.scopesClaim ?? '', placeholder: 'scope' }),
      field('Claim carrying the TPP roles', 'roles_claim', { value: km?.additionalProperties?.roles_claim ?? '' }),
    ),
    field('Enabled', 'enabled', { kind: 'checkbox', value: km?.enabled ?? true }),
    h('button', { type: 'submit', class: 'primary' }, km ? 'Validate and save' : 'Validate and add'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const d = new FormData(form);
    /** @param {string} n */
    const t = (n) => String(d.get(n) ?? '').trim();
    const extra = {
      ...(t('audience') ? { audience: t('audience') } : {}),
      ...(t('roles_claim') ? { roles_claim: t('roles_claim') } : {}),
      ...(t('introspection_client_id') || t('introspection_client_secret')
        ? { introspection_client_id: t('introspection_client_id'), introspection_client_secret: t('introspection_client_secret') }
        : {}),
    };
    const body = {
      name: km ? km.name : t('name'),
      ...(t('displayName') ? { displayName: t('displayName') } : {}),
      wellKnownEndpoint: t('wellKnownEndpoint'),
      ...(t('issuer') ? { issuer: t('issuer') } : {}),
      enabled: find(form, 'input[name="enabled"]', HTMLInputElement).checked,
      enableSelfValidationJWT: t('validation') !== 'introspection',
      ...(t('handlingType') && t('handlingValue') ? { tokenValidation: [{ type: t('handlingType'), value: t('handlingValue') }] } : {}),
      ...(t('consumerKeyClaim') ? { consumerKeyClaim: t('consumerKeyClaim') } : {}),
      ...(t('scopesClaim') ? { scopesClaim: t('scopesClaim') } : {}),
      ...(Object.keys(extra).length ? { additionalProperties: extra } : {}),
    };
    void onSubmit(body, submitter(event));
  });
  return form;
}

/** @param {KeyManager} km */
function discovered(km) {
  return facts([
    ['Issuer', h('code', null, km.issuer)],
    ['Discovery URL', km.wellKnownEndpoint ? h('code', null, km.wellKnownEndpoint) : '—'],
    ['Key set', km.endpoints.jwks ? h('code', null, km.endpoints.jwks) : '—'],
    ['Token endpoint', km.endpoints.token ? h('code', null, km.endpoints.token) : '—'],
    ['Introspection', km.endpoints.introspection ? h('code', null, km.endpoints.introspection) : '—'],
    ['Revocation', km.endpoints.revoke ? h('code', null, km.endpoints.revoke) : '—'],
    ['Validation', km.enableSelfValidationJWT ? 'self-contained JWT' : 'introspection'],
    ['Token handling', km.tokenValidation.length ? km.tokenValidation.map((r) => `${r.type}: ${r.value}`).join('; ') : 'all tokens of its issuer'],
    [
      'Claims',
      `client ID: ${km.consumerKeyClaim}, scopes: ${km.scopesClaim}${km.additionalProperties.roles_claim ? `, roles: ${km.additionalProperties.roles_claim}` : ''}`,
    ],
    ['Audience', km.additionalProperties.audience ?? 'not checked'],
  ]);
}

/** @param {PageContext} ctx */
export async function keyManagersPage({ session, navigate }) {
  const kms = /** @type {List<KeyManager>} */ (await api('GET', KEY_MANAGERS));
  const msg = messages();
  const list = table(
    'Key managers',
    [
      { label: 'Name', cell: (k) => link(`/admin/key-managers/${enc(k.name)}`, k.displayName || k.name) },
      { label: 'Type', cell: (k) => (k.type === 'default' ? 'resident (this server)' : 'external OpenID provider') },
      { label: 'Issuer', cell: (k) => h('code', null, k.issuer) },
      { label: 'State', cell: (k) => stateBadge(k.enabled) },
      { label: 'Changed', cell: (k) => when(k.lastUpdatedTime) },
    ],
    kms.list,
  );
  const add = canChange(session)
    ? keyManagerForm(null, async (body, submit) => {
        const created = await act(submit, msg, () => /** @type {Promise<KeyManager>} */ (api('POST', KEY_MANAGERS, { json: body })));
        if (created) navigate(`/key-managers/${enc(created.name)}`);
      })
    : null;
  return [h('h1', null, 'Key managers'), readOnlyNote(session), section('Key managers', list), add ? section('Add a key manager', msg.el, add) : null];
}

/** @param {PageContext} ctx */
export async function keyManagerDetailPage({ session, params, navigate }) {
  const km = /** @type {KeyManager} */ (await api('GET', `${KEY_MANAGERS}/${enc(pathParam(params))}`));
  const admin = canChange(session);
  const msg = messages();
  const resident = km.type === 'default';
  const toggle = admin
    ? button(
        km.enabled ? 'Disable' : 'Enable',
        async (event) => {
          const r = await act(event.currentTarget, msg, () => api('PUT', `${KEY_MANAGERS}/${enc(km.name)}`, { json: { enabled: !km.enabled } }));
          if (r) navigate(`/key-managers/${enc(km.name)}`, { replace: true });
        },
        { kind: km.enabled ? 'danger' : 'primary' },
      )
    : null;
  const edit =
    admin && !resident
      ? keyManagerForm(km, async (body, submit) => {
          const saved = await act(submit, msg, () => api('PUT', `${KEY_MANAGERS}/${enc(km.name)}`, { json: body }));
          if (saved) navigate(`/key-managers/${enc(km.name)}`, { replace: true });
        })
      : null;
  const remove =
    admin && !resident
      ? button(
          'Remove this key manager',
          async (event) => {
            if (!(await confirmAction(`Remove ${km.displayName || km.name}?`, 'The gateway no longer accepts its tokens, on every host.', 'Remove'))) return;
            const done = await act(event.currentTarget, msg, () => api('DELETE', `${KEY_MANAGERS}/${enc(km.name)}`));
            if (done) navigate('/key-managers');
          },
          { kind: 'danger' },
        )
      : null;
  return [
    h('p', { class: 'crumbs' }, link('/admin/key-managers', 'Key managers'), ' / ', km.name),
    h('h1', null, km.displayName || km.name),
    readOnlyNote(session),
    msg.el,
    section('What was discovered', h('p', null, stateBadge(km.enabled), ' ', toggle), discovered(km)),
    edit ? section('Edit', edit) : null,
    remove ? section('Remove', remove) : null,
  ];
}
