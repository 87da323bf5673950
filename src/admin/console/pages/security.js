// Trust store (CA certificates trusted for transport certificates), signing keys (state, dates,
// rotation) and OAuth scopes. Every change applies on every worker and host within a notice.
import { act, api, button, canChange, confirmAction, enc, field, fill, h, messages, readOnlyNote, section, table, when } from '../lib.js';

const OPS = '/api/opendcr/v1';
const SCOPES = '/api/identity/oauth2/v1.0/scopes';

function trustStore(admin) {
  const msg = messages();
  const listEl = h('div');
  const load = async () => {
    const anchors = await api('GET', `${OPS}/truststore`);
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
  let form = null;
  if (admin) {
    const file = field('CA certificate file (PEM)', 'file', { kind: 'file', accept: '.pem,.crt,.cer,application/x-pem-file' });
    const pem = field('…or paste the PEM', 'pem', { kind: 'textarea', rows: 6, placeholder: '-----BEGIN CERTIFICATE-----' });
    form = h(
      'form',
      { class: 'stack', 'aria-label': 'Add a CA certificate' },
      file,
      pem,
      field('Name (optional)', 'name', { hint: 'Default: from the certificate subject' }),
      h('button', { type: 'submit', class: 'primary' }, 'Trust this CA'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const chosen = file.querySelector('input').files?.[0];
      const text = chosen ? await chosen.text() : String(new FormData(form).get('pem') ?? '');
      const name = String(new FormData(form).get('name') ?? '').trim();
      const added = await act(
        event.submitter,
        msg,
        () => api('POST', `${OPS}/truststore`, { json: { pem: text.trim(), ...(name ? { name } : {}) } }),
        (c) => (c.added ? `${c.name} is trusted (fingerprint ${c.fingerprint256}).` : `${c.name} was trusted already.`),
      );
      if (added) {
        form.reset();
        await load();
      }
    });
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

function signingKeys(admin) {
  const msg = messages();
  const listEl = h('div');
  const load = async () => {
    const keys = await api('GET', `${OPS}/keys`);
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
              () => api('POST', `${OPS}/keys/rotate`),
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

function scopes(admin) {
  const msg = messages();
  const listEl = h('div');
  const load = async () => {
    const list = await api('GET', SCOPES);
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
  let form = null;
  if (admin) {
    form = h(
      'form',
      { class: 'inline', 'aria-label': 'Add a scope' },
      field('Scope', 'name', { required: true, placeholder: 'e.g. fundsconfirmations' }),
      field('Display name', 'displayName'),
      field('Description', 'description'),
      h('button', { type: 'submit', class: 'primary' }, 'Add the scope'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const d = new FormData(form);
      const t = (n) => String(d.get(n) ?? '').trim();
      const added = await act(
        event.submitter,
        msg,
        () =>
          api('POST', SCOPES, {
            json: {
              name: t('name'),
              ...(t('displayName') ? { displayName: t('displayName') } : {}),
              ...(t('description') ? { description: t('description') } : {}),
            },
          }),
        (s) => `${s.name} added.`,
      );
      if (added) {
        form.reset();
        await load();
      }
    });
  }
  return { el: section('Scopes', msg.el, listEl, form), load };
}

export async function securityPage({ session }) {
  const admin = canChange(session);
  const parts = [trustStore(admin), signingKeys(admin), scopes(admin)];
  await Promise.all(parts.map((p) => p.load()));
  return [h('h1', null, 'Trust, keys and scopes'), readOnlyNote(session), ...parts.map((p) => p.el)];
}
