// The console's small toolkit: DOM building (text only, never HTML strings: registration data is
// the TPPs' own), the REST client (session cookie, CSRF header, the APIs' {code, message} errors),
// and the shared pieces of every page (tables, forms, messages, confirmation dialog).

/** Creates an element. props: attributes, `on<event>` handlers, `class`, `dataset`; children: nodes or text. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'value' && 'value' in el) el.value = value;
    else if (key === 'checked' || key === 'selected' || key === 'disabled' || key === 'multiple' || key === 'required') el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let csrfToken = null;
let onSessionLost = () => {};
export function setSession(token, lost) {
  csrfToken = token;
  if (lost) onSessionLost = lost;
}

/**
 * Calls a REST API of this server. `json` sends a JSON body, `form` a FormData (multipart).
 * Resolves with the parsed JSON (or null), rejects with ApiError carrying the API's code and message.
 */
export async function api(method, path, { json, form, query } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  // x-opendcr-console: a 401 then carries no Basic challenge (the browser would prompt).
  const headers = { accept: 'application/json', 'x-opendcr-console': '1' };
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let body;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'NETWORK', 'the server could not be reached');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const code = data?.code ?? data?.error ?? `HTTP_${res.status}`;
    const message = data?.message ?? data?.error_description ?? data?.description ?? `the server answered ${res.status}`;
    if (res.status === 401 && code === 'ADMIN_SESSION_INVALID') onSessionLost();
    throw new ApiError(res.status, code, message);
  }
  return data;
}

/** Date-time for people: local, to the second. */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** A table with a caption; columns: [{ label, cell(row) → node|text }]. */
export function table(caption, columns, rows, { empty = 'Nothing yet.' } = {}) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'div',
    { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h(
      'table',
      null,
      h('caption', null, caption),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          columns.map((c) => h('th', { scope: 'col' }, c.label)),
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((row) =>
          h(
            'tr',
            null,
            columns.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c.cell(row)) : h('td', null, c.cell(row)))),
          ),
        ),
      ),
    ),
  );
}

let fieldCount = 0;
/** A labelled form control. kind: input type, 'select' (options: [[value, label]]), 'textarea'. */
export function field(label, name, { kind = 'text', value, options, hint, required, placeholder, multiple, rows, accept, autocomplete } = {}) {
  const id = `f${++fieldCount}-${name}`;
  const hintId = hint ? `${id}-hint` : undefined;
  let control;
  if (kind === 'select') {
    control = h(
      'select',
      { id, name, required, multiple, 'aria-describedby': hintId },
      (options ?? []).map(([v, l]) => h('option', { value: v, selected: Array.isArray(value) ? value.includes(v) : v === value }, l)),
    );
  } else if (kind === 'textarea') {
    control = h('textarea', { id, name, required, placeholder, rows: rows ?? 4, 'aria-describedby': hintId, spellcheck: 'false' });
    if (value !== undefined) control.value = value;
  } else if (kind === 'checkbox') {
    control = h('input', { id, name, type: 'checkbox', checked: value, 'aria-describedby': hintId });
    return h('div', { class: 'field field-check' }, control, h('label', { for: id }, label), hint ? h('p', { class: 'hint', id: hintId }, hint) : null);
  } else {
    control = h('input', {
      id,
      name,
      type: kind,
      value,
      required,
      placeholder,
      accept,
      autocomplete,
      'aria-describedby': hintId,
      spellcheck: kind === 'text' ? 'false' : undefined,
    });
  }
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
  );
}

/** A group of checkboxes with a legend; values: [[value, label]]. */
export function checkboxes(legend, name, values, checked = []) {
  return h(
    'fieldset',
    { class: 'checks' },
    h('legend', null, legend),
    values.map(([v, l]) => {
      const id = `f${++fieldCount}-${name}-${v}`.replace(/[^A-Za-z0-9_-]/g, '_');
      return h('span', { class: 'check' }, h('input', { type: 'checkbox', id, name, value: v, checked: checked.includes(v) }), h('label', { for: id }, l));
    }),
  );
}

/** The checked values of a checkbox group. */
export const checkedValues = (form, name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);

/** A message area: role=alert for errors (announced), role=status for outcomes. */
export function messages() {
  const el = h('div', { class: 'messages', 'aria-live': 'polite' });
  return {
    el,
    ok(text) {
      fill(el, h('p', { class: 'msg ok', role: 'status' }, text));
    },
    error(err) {
      const code = err instanceof ApiError ? err.code : 'ERROR';
      fill(el, h('p', { class: 'msg error', role: 'alert' }, h('strong', null, code), ': ', err.message ?? String(err)));
    },
    clear() {
      el.replaceChildren();
    },
  };
}

/**
 * Runs an action from a button or form: disables the control meanwhile, shows the outcome in
 * `msg`, and returns the result (undefined on failure).
 */
export async function act(control, msg, fn, done) {
  control.disabled = true;
  control.setAttribute('aria-busy', 'true');
  try {
    const result = await fn();
    if (done) msg.ok(typeof done === 'function' ? done(result) : done);
    return result ?? true;
  } catch (err) {
    msg.error(err);
    return undefined;
  } finally {
    control.disabled = false;
    control.removeAttribute('aria-busy');
  }
}

/** Asks before a destructive action, in a modal dialog (keyboard: Tab, Enter, Escape). */
export function confirmAction(question, detail, confirmLabel = 'Confirm') {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-detail' },
      h('h2', { id: 'confirm-title' }, question),
      h('p', { id: 'confirm-detail' }, detail),
      h(
        'form',
        { method: 'dialog', class: 'actions' },
        h('button', { value: 'cancel', class: 'secondary', autofocus: true }, 'Cancel'),
        h('button', { value: 'confirm', class: 'danger' }, confirmLabel),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/**
 * A button; `danger` for destructive ones. The handler gets `{ currentTarget }` bound to the
 * button, which stays valid after an await (a DOM event's currentTarget does not).
 */
export function button(label, onClick, { kind = 'primary', type = 'button', disabled, describedBy } = {}) {
  const el = h('button', { type, class: kind, disabled, 'aria-describedby': describedBy }, label);
  el.addEventListener('click', () => {
    Promise.resolve(onClick({ currentTarget: el })).catch((err) => console.error('console action failed', err));
  });
  return el;
}

/** A link inside the console (navigates without reloading). */
export function link(href, text, props = {}) {
  return h('a', { href, ...props, dataset: { nav: '' } }, text);
}

/** Section with a heading. */
export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), children);
}

/** Key/value list. */
export function facts(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '—')]),
  );
}

/** A read-only session sees why the controls are missing. */
export function readOnlyNote(session) {
  return session.role === 'admin' ? null : h('p', { class: 'note' }, 'You are signed in as an auditor: you can read everything here, and change nothing.');
}

export const canChange = (session) => session.role === 'admin';

/** A JSON value, pre-formatted; it may scroll, so it takes keyboard focus. */
export const pretty = (value) => h('pre', { class: 'json', tabindex: '0' }, JSON.stringify(value, null, 2));

export const enc = encodeURIComponent;
