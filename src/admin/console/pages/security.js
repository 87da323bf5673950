// Trust store (CA certificates trusted for transport certificates), signing keys (state, dates,
// rotation) and OAuth scopes. Every change applies on every worker and host within a notice.
import { act, api, button, canChange, confirmAction, enc, field, fill, find, h, messages, readOnlyNote, section, submitter, table, when } from '../lib.js';
/** @import { PageContext } from '../lib.js' */

/**
 * A trusted CA certificate (GET /api/opendcr/v1/truststore, src/admin/operations-routes.ts):
 * from the database (every host) or this host's folder. Adding one answers `added` too (false:
 * it was trusted already).
 * @typedef {{ name: string, source: string, subject: string, issuer: string, notAfter: string, fingerprint256: string }} TrustAnchor
 */

/**
 * A signing key (GET /api/opendcr/v1/keys): a retired key stays published until publishedUntil.
 * @typedef {{ kid: string, alg: string, state: 'active' | 'retired', createdAt: string, retiredAt: string | null, publishedUntil: string | null }} SigningKey
 */

/**
 * An OAuth scope (src/admin/scopes.ts).
 * @typedef {{ name: string, displayName: string, description: string, bindings: string[] }} Scope
 */

/**
 * A part of the page: its section, and how to (re)load its list.
 * @typedef {{ el: HTMLElement, load: () => Promise<void> }} Part
 */

const OPS = '/api/opendcr/v1';
const SCOPES = '/api/identity/oauth2/v1.0/scopes';

/**
 * @param {boolean} admin
 * @returns {Part}
 */
function trustStore(admin) {
  const msg = messages();
  const listEl = h('div');
  const load = async () => {
    const anchors = /** @type {{ list: TrustAnchor[] }} */ (await api('GET', `${OPS}/truststore`));
    fill(
      listEl,
      table(
        'Trusted CA certificates',
        [
          { label: 'Name', cell: (c) => c.name },
          { label: 'Subject', cell: (c) => h('code', null, c.subject) },
          { label: 'Issuer', cell: (c) => h('code', null, c.issuer) },
          { label: 'Valid until', cell: (c) => when(c.notAfter) },
          { label: 'SHA-256 fingerprint', cell: (c) => h('code', { class: 'wrap' }, c.fingerprint256) },
          { label: 'Where', cell: (c) => (c.source === 'database' ? 'database (every host)' : "this host's folder") },
          {
            label: 'Action',
            cell: (c) =>
              admin
                ? button(
                    `Remove ${c.name}`,
                    async (event) => {
                      if (
                        !(await confirmAction(
                          `Stop trusting ${c.name}?`,
                          `Transport certificates issued under ${c.subject} are refused from now on, on every host.`,
                          'Remove',
                        ))
                      )
                        return;
                      if (
                        await act(
                          event.currentTarget,
                          msg,
                          () => api('DELETE', `${OPS}/truststore/${enc(c.fingerprint256)}`),
                          `${c.name} is no longer trusted.`,
                        )
                      )
                        await load();
                    },
                    { kind: 'danger' },
                  )
                : '—',
          },
        ],
        anchors.list,
        { empty: 'No CA is trusted yet: every client certificate is refused.' },
      ),
    );
  };
  /** @type {HTMLFormElement | null} */
  let form = null;
  if (admin) {
    const file = field('CA certificate file (PEM)', 'file', { kind: 'file', accept: '.pem,.crt,.cer,application/x-pem-file' });
    const pem = field('…or paste the PEM', 'pem', { kind: 'textarea', rows: 6, placeholder: '-----BEGIN CERTIFICATE-----' });
    const add = h(
      'form',
      { class: 'stack', 'aria-label': 'Add a CA certificate' },
      file,
      pem,
      field('Name (optional)', 'name', { hint: 'Default: from the certificate subject' }),
      h('button', { type: 'submit', class: 'primary' }, 'Trust this CA'),
    );
    add.addEventListener('submit', async (event) => {
      event.preventDefault();
      const chosen = find(file, 'input', HTMLInputElement).files?.[0];
      const text = chosen ? await chosen.text() : String(new FormData(add).get('pem') ?? '');
      const name = String(new FormData(add).get('name') ?? '').trim();
      const added = await act(
        submitter(event),
        msg,
        () =>
          /** @type {Promise<TrustAnchor & { added: boolean }>} */ (
            api('POST', `${OPS}/truststore`, { json: { pem: text.trim(), ...(name ? { name } : {}) } })
          ),
        (c) => (c.added ? `${c.name} is trusted (fingerprint ${c.fingerprint256}).` : `${c.name} was trusted already.`),
      );
      if (added) {
        add.reset();
        await load();
      }
    });
    form = add;
  }
  return {
    el: section(
      'Trust store',
      h('p', { class: 'hint' }, 'CA certificates that transport (mutual TLS) certificates must chain to.'),
      msg.el,
      listEl,
      form ? h('h3', null, 'Add a CA certificate') : null,
      form,
    ),
    load,
  };
}

/**
 * @param {boolean} admin
 * @returns {Part}
 */
function signingKeys(admin) {
  const msg = messages();
  const listEl = h('div');
  const load = async () => {
    const keys = /** @type {{ list: SigningKey[] }} */ (await api('GET', `${OPS}/keys`));
    fill(
      listEl,
      table(
        'Signing keys',
        [
          { label: 'Key ID', cell: (k) => h('code', null, k.kid) },
          { label: 'Algorithm', cell: (k) => k.alg },
          { label: 'State', cell: (k) => h('span', { class: k.state === 'active' ? 'badge ok' : 'badge' }, k.state) },
          { label: 'Created', cell: (k) => when(k.createdAt) },
          { label: 'Retired', cell: (k) => when(k.retiredAt) },
          { label: 'Published until', cell: (k) => when(k.publishedUntil) },
        ],
        keys.list,
      ),
    );
  };
  const rotate = admin
    ? button(
        'Rotate the signing keys',
        async (event) => {
          if (
            !(await confirmAction(
              'Rotate the signing keys?',
              'New keys sign from now on, on every host; the current ones stay published until the tokens they signed expire.',
              'Rotate',
            ))
          )
            return;
          if (
            await act(
              event.currentTarget,
              msg,
              // The key ids that sign from now on.
              () => /** @type {Promise<{ active: string[] }>} */ (api('POST', `${OPS}/keys/rotate`)),
              (r) => `Rotated: ${r.active.length} new active key(s).`,
            )
          )
            await load();
        },
        { kind: 'primary' },
      )
    : null;
  return {
    el: section(
      'Signing keys',
      h('p', { class: 'hint' }, 'Keys that sign ID tokens, JWT access tokens and responses; retired keys stay in the published key set until they expire.'),
      msg.el,
      listEl,
      rotate,
    ),
    load,
  };
}

/**
 * @param {boolean} admin
 * @returns {Part}
 */
function scopes(admin) {
  const msg = messages();
  const listEl = h('div');
  const load = async () => {
    const list = /** @type {Scope[]} */ (await api('GET', SCOPES));
    fill(
      listEl,
      table(
        'Scopes',
        [
          { label: 'Scope', cell: (s) => h('code', null, s.name) },
          { label: 'Display name', cell: (s) => s.displayName },
          { label: 'Description', cell: (s) => s.description || '—' },
          {
            label: 'Action',
            cell: (s) =>
              admin && s.name !== 'openid'
                ? button(
                    `Remove ${s.name}`,
                    async (event) => {
                      if (!(await confirmAction(`Remove the scope ${s.name}?`, 'It is no longer granted; clients registered with it keep working.', 'Remove')))
                        return;
                      if (await act(event.currentTarget, msg, () => api('DELETE', `${SCOPES}/name/${enc(s.name)}`), `${s.name} removed.`)) await load();
                    },
                    { kind: 'danger' },
                  )
                : '—',
          },
        ],
        list,
      ),
    );
  };
  /** @type {HTMLFormElement | null} */
  let form = null;
  if (admin) {
    const add = h(
      'form',
      { class: 'inline', 'aria-label': 'Add a scope' },
      field('Scope', 'name', { required: true, placeholder: 'e.g. fundsconfirmations' }),
      field('Display name', 'displayName'),
      field('Description', 'description'),
      h('button', { type: 'submit', class: 'primary' }, 'Add the scope'),
    );
    add.addEventListener('submit', async (event) => {
      event.preventDefault();
      const d = new FormData(add);
      /** @param {string} n */
      const t = (n) => String(d.get(n) ?? '').trim();
      const added = await act(
        submitter(event),
        msg,
        () =>
          /** @type {Promise<Scope>} */ (
            api('POST', SCOPES, {
              json: {
                name: t('name'),
                ...(t('displayName') ? { displayName: t('displayName') } : {}),
                ...(t('description') ? { description: t('description') } : {}),
              },
            })
          ),
        (s) => `${s.name} added.`,
      );
      if (added) {
        add.reset();
        await load();
      }
    });
    form = add;
  }
  return { el: section('Scopes', msg.el, listEl, form), load };
}

/** @param {PageContext} ctx */
export async function securityPage({ session }) {
  const admin = canChange(session);
  const parts = [trustStore(admin), signingKeys(admin), scopes(admin)];
  await Promise.all(parts.map((p) => p.load()));
  return [h('h1', null, 'Trust, keys and scopes'), readOnlyNote(session), ...parts.map((p) => p.el)];
}
