// Sandbox (sandbox mode only): the sandbox directory this server publishes, test TPPs with their
// roles and redirect URIs, and each TPP's bundle (transport certificate and key, signing key,
// SSA, key set) as a zip, so a TPP developer can start without the command line.
import {
  act,
  api,
  button,
  canChange,
  checkboxes,
  checkedValues,
  enc,
  facts,
  field,
  fill,
  h,
  messages,
  readOnlyNote,
  section,
  submitter,
  table,
} from '../lib.js';
/** @import { PageContext } from '../lib.js' */

/**
 * A test TPP (tppDto in src/admin/sandbox-api.ts).
 * @typedef {object} SandboxTpp
 * @property {string} softwareId
 * @property {string} orgId
 * @property {string} name
 * @property {string[]} roles
 * @property {string[]} redirectUris
 * @property {'sandbox' | 'production'} environment
 * @property {string} signingKid
 * @property {string} softwareJwksEndpoint
 */

/**
 * The sandbox (GET /api/opendcr/v1/sandbox): no directory until it is initialised.
 * @typedef {{ initialised: false, directory: null, tpps: SandboxTpp[] }
 *   | { initialised: true, directory: { issuer: string, kid: string, jwksUrl: string }, tpps: SandboxTpp[] }} Sandbox
 */

const SANDBOX = '/api/opendcr/v1/sandbox';

/** @param {PageContext} ctx */
export async function sandboxPage({ session }) {
  const admin = canChange(session);
  const msg = messages();
  const statusEl = h('div');
  const listEl = h('div');
  const formHolder = h('div');

  const load = async () => {
    const s = /** @type {Sandbox} */ (await api('GET', SANDBOX));
    if (!s.initialised) {
      fill(
        statusEl,
        h(
          'p',
          null,
          "There is no sandbox directory yet. It issues the test TPPs' certificates and signs their software statements; this server trusts it at once.",
        ),
        admin
          ? button(
              'Create the sandbox directory',
              async (event) => {
                if (await act(event.currentTarget, msg, () => api('POST', `${SANDBOX}/init`), 'The sandbox directory is ready.')) await load();
              },
              { kind: 'primary' },
            )
          : null,
      );
      fill(listEl);
      fill(formHolder);
      return;
    }
    fill(
      statusEl,
      facts([
        ['Directory', s.directory.issuer],
        ['Signing key ID', h('code', null, s.directory.kid)],
        ['Key set', h('code', null, s.directory.jwksUrl)],
      ]),
    );
    fill(
      listEl,
      table(
        'Sandbox TPPs',
        [
          { label: 'Name', cell: (t) => t.name },
          { label: 'Software ID', cell: (t) => h('code', null, t.softwareId) },
          { label: 'Organisation', cell: (t) => h('code', null, t.orgId) },
          { label: 'Roles', cell: (t) => t.roles.join(', ') },
          {
            label: 'Redirect URIs',
            cell: (t) =>
              h(
                'ul',
                { class: 'plain' },
                t.redirectUris.map((u) => h('li', null, h('code', null, u))),
              ),
          },
          {
            label: 'Bundle',
            cell: (t) =>
              admin
                ? h(
                    'a',
                    { href: `${SANDBOX}/tpps/${enc(t.softwareId)}/bundle.zip`, download: `sandbox-tpp-${t.softwareId}.zip`, class: 'button-link' },
                    `Download ${t.name} (zip)`,
                  )
                : 'administrators only',
          },
        ],
        s.tpps,
        { empty: 'No test TPP yet.' },
      ),
    );
    fill(formHolder, admin ? tppForm() : null);
  };

  const tppForm = () => {
    const form = h(
      'form',
      { class: 'stack', 'aria-label': 'Create a test TPP' },
      h('h3', null, 'Create a test TPP'),
      field('Name', 'name', { required: true, placeholder: 'e.g. Acme Budgeting' }),
      checkboxes(
        'Roles',
        'roles',
        [
          ['AISP', 'AISP (account information)'],
          ['PISP', 'PISP (payment initiation)'],
          ['CBPII', 'CBPII (funds confirmation)'],
        ],
        ['AISP'],
      ),
      field('Redirect URIs (one per line, https)', 'redirectUris', { kind: 'textarea', rows: 3, required: true, value: 'https://tpp.example.com/callback' }),
      field('Software environment', 'environment', {
        kind: 'select',
        options: [
          ['sandbox', 'sandbox'],
          ['production', 'production'],
        ],
        value: 'sandbox',
      }),
      h('button', { type: 'submit', class: 'primary' }, 'Create the TPP'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const d = new FormData(form);
      const body = {
        name: String(d.get('name') ?? '').trim(),
        roles: checkedValues(form, 'roles'),
        redirectUris: String(d.get('redirectUris') ?? '')
          .split(/\s+/)
          .filter(Boolean),
        environment: String(d.get('environment')),
      };
      const created = await act(
        submitter(event),
        msg,
        () => /** @type {Promise<SandboxTpp>} */ (api('POST', `${SANDBOX}/tpps`, { json: body })),
        (t) => `${t.name} is enrolled (software_id ${t.softwareId}); download its bundle below.`,
      );
      if (created) await load();
    });
    return form;
  };

  await load();
  return [
    h('h1', null, 'Sandbox'),
    readOnlyNote(session),
    h('p', null, 'Test identities for TPP developers: never available in production mode.'),
    msg.el,
    section('Sandbox directory', statusEl),
    section('Test TPPs', listEl, formHolder),
  ];
}
