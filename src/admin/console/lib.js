// The console's small toolkit: DOM building (text only, never HTML strings: registration data is
// the TPPs' own), the REST client (session cookie, CSRF header, the APIs' {code, message} errors),
// and the shared pieces of every page (tables, forms, messages, confirmation dialog).
// The JSDoc types are checked by `tsc -p tsconfig.console.json` (npm run typecheck); the shapes
// of the REST answers are declared beside the pages that read them.

/**
 * What an element takes as a child: a node, text (numbers and booleans shown as text), nothing
 * (null, undefined, false), or a list of these, however nested.
 * @typedef {Node | string | number | boolean | null | undefined | readonly Child[]} Child
 */

/**
 * An element's properties: attributes by name (true: present and empty; false, null, undefined:
 * absent), `on<event>` handlers, `dataset`, and the DOM properties value, checked, selected,
 * disabled, multiple and required.
 * @typedef {{ [name: string]: unknown, dataset?: Record<string, string>, onclick?: (event: MouseEvent) => unknown }} Props
 */

/** @typedef {'admin' | 'auditor' | 'customer_care'} Role */

/**
 * A signed-in console user, as POST and GET /admin/api/session answer (src/admin/session-routes.ts).
 * @typedef {{ user: string, role: Role, csrfToken: string, expiresAt: string }} Session
 */

/**
 * What every page is given by the router (app.js): `params` are the path's decoded captures.
 * @typedef {object} PageContext
 * @property {Session} session
 * @property {string[]} params
 * @property {(path: string, opts?: { replace?: boolean }) => void} navigate
 * @property {() => Promise<void>} refresh
 * @property {boolean} sandbox
 */

/** @typedef {(ctx: PageContext) => Promise<Child>} Page */

/**
 * A list as the gateway's admin APIs answer one (src/apim/admin-routes.ts).
 * @template T
 * @typedef {{ count: number, list: T[], pagination: { offset: number, limit: number, total: number } }} List
 */

/**
 * Creates an element. props: attributes, `on<event>` handlers, `class`, `dataset`; children: nodes or text.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props | null} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    // The handler's signature is the caller's (Props types onclick's).
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), /** @type {EventListener} */ (value));
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'value' && 'value' in el) Object.assign(el, { value });
    else if (key === 'checked' || key === 'selected' || key === 'disabled' || key === 'multiple' || key === 'required')
      Object.assign(el, { [key]: Boolean(value) });
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/**
 * @param {Element} el
 * @param {readonly unknown[]} children
 */
function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * Replaces an element's children.
 * @template {Element} E
 * @param {E} el
 * @param {...Child} children
 * @returns {E}
 */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * The element `selector` finds in `root`, checked to be a `type`; throws if there is none: the
 * console built that element itself, so a miss is a bug of the console.
 * @template {Element} E
 * @param {ParentNode} root
 * @param {string} selector
 * @param {{ new (): E }} type
 * @returns {E}
 */
export function find(root, selector, type) {
  const el = root.querySelector(selector);
  if (!(el instanceof type)) throw new Error(`the console's page has no ${type.name} ${selector}`);
  return el;
}

/**
 * The button that submitted a form (each of the console's forms has its submit button).
 * @param {SubmitEvent} event
 * @returns {HTMLButtonElement}
 */
export function submitter(event) {
  const el = event.submitter;
  if (!(el instanceof HTMLButtonElement)) throw new Error('the form was submitted without its button');
  return el;
}

export class ApiError extends Error {
  /**
   * @param {number} status the HTTP status (0: no answer)
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** @type {string | null} */
let csrfToken = null;
let onSessionLost = () => {};
/**
 * @param {string | null} token the session's CSRF token (null: signed out)
 * @param {() => void} [lost] called when the server says the session is gone
 */
export function setSession(token, lost) {
  csrfToken = token;
  if (lost) onSessionLost = lost;
}

/**
 * Calls a REST API of this server. `json` sends a JSON body, `form` a FormData (multipart).
 * Resolves with the parsed JSON (or null), rejects with ApiError carrying the API's code and message.
 * The answer is `unknown`: a caller states the shape it reads (`@type`), which the REST API
 * declares and this console does not check again.
 * @param {string} method
 * @param {string} path
 * @param {{ json?: unknown, form?: FormData, query?: Record<string, string | number | boolean | null | undefined> }} [opts]
 * @returns {Promise<unknown>}
 */
export async function api(method, path, { json, form, query } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  // x-opendcr-console: a 401 then carries no Basic challenge (the browser would prompt).
  /** @type {Record<string, string>} */
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
  /** @type {unknown} */
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    // Ours ({code, message}), OAuth's ({error, error_description}) or WSO2's ({description}).
    const e = /** @type {{ code?: string, message?: string, error?: string, error_description?: string, description?: string } | null} */ (data);
    const code = e?.code ?? e?.error ?? `HTTP_${res.status}`;
    const message = e?.message ?? e?.error_description ?? e?.description ?? `the server answered ${res.status}`;
    if (res.status === 401 && code === 'ADMIN_SESSION_INVALID') onSessionLost();
    throw new ApiError(res.status, code, message);
  }
  return data;
}

/**
 * Date-time for people: local, to the second.
 * @param {string | null | undefined} iso
 */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/**
 * A table with a caption; columns: [{ label, cell(row) → node|text }].
 * @template T
 * @param {string} caption
 * @param {readonly { label: string, cell: (row: T) => Child }[]} columns
 * @param {readonly T[]} rows
 * @param {{ empty?: string }} [opts]
 */
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

/**
 * @typedef {object} FieldOptions
 * @property {string} [kind] an input type, 'select', 'textarea' or 'checkbox' (default 'text')
 * @property {string | number | boolean | string[]} [value] an array: the chosen options of a multiple select
 * @property {readonly (readonly [string, string])[]} [options] a select's [value, label] pairs
 * @property {string} [hint]
 * @property {boolean} [required]
 * @property {string} [placeholder]
 * @property {boolean} [multiple]
 * @property {number} [rows]
 * @property {string} [accept]
 * @property {string} [autocomplete]
 */

let fieldCount = 0;
/**
 * A labelled form control. kind: input type, 'select' (options: [[value, label]]), 'textarea'.
 * @param {string} label
 * @param {string} name
 * @param {FieldOptions} [opts]
 * @returns {HTMLDivElement}
 */
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
    if (value !== undefined) control.value = String(value);
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

/**
 * A group of checkboxes with a legend; values: [[value, label]].
 * @param {string} legend
 * @param {string} name
 * @param {readonly (readonly [string, string])[]} values
 * @param {readonly string[]} [checked]
 */
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

/**
 * The checked values of a checkbox group.
 * @param {ParentNode} form
 * @param {string} name
 */
export const checkedValues = (form, name) =>
  [...form.querySelectorAll(`input[name="${name}"]:checked`)].filter((i) => i instanceof HTMLInputElement).map((i) => i.value);

/** A message area: role=alert for errors (announced), role=status for outcomes. */
export function messages() {
  const el = h('div', { class: 'messages', 'aria-live': 'polite' });
  return {
    el,
    /** @param {string} text */
    ok(text) {
      fill(el, h('p', { class: 'msg ok', role: 'status' }, text));
    },
    /** @param {unknown} err */
    error(err) {
      const code = err instanceof ApiError ? err.code : 'ERROR';
      fill(el, h('p', { class: 'msg error', role: 'alert' }, h('strong', null, code), ': ', err instanceof Error ? err.message : String(err)));
    },
    clear() {
      el.replaceChildren();
    },
  };
}

/** @typedef {ReturnType<typeof messages>} Messages */

/**
 * What `act` returns for an action that resolved with a T: the T, or true for an answer without a
 * body (null), so that a caller tests the outcome alone.
 * @template T
 * @typedef {T extends null | undefined ? true : T} Done
 */

/**
 * Runs an action from a button or form: disables the control meanwhile, shows the outcome in
 * `msg`, and returns the result (undefined on failure).
 * @template T
 * @param {HTMLButtonElement} control
 * @param {Messages} msg
 * @param {() => Promise<T>} fn
 * @param {string | ((result: T) => string)} [done] the message on success
 * @returns {Promise<Done<T> | undefined>}
 */
export async function act(control, msg, fn, done) {
  control.disabled = true;
  control.setAttribute('aria-busy', 'true');
  try {
    const result = await fn();
    if (done) msg.ok(typeof done === 'function' ? done(result) : done);
    return /** @type {Done<T>} */ (result ?? true);
  } catch (err) {
    msg.error(err);
    return undefined;
  } finally {
    control.disabled = false;
    control.removeAttribute('aria-busy');
  }
}

/**
 * Asks before a destructive action, in a modal dialog (keyboard: Tab, Enter, Escape).
 * @param {string} question
 * @param {string} detail
 * @param {string} [confirmLabel]
 * @returns {Promise<boolean>}
 */
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
 * @param {string} label
 * @param {(event: { currentTarget: HTMLButtonElement }) => unknown} onClick
 * @param {{ kind?: string, type?: 'button' | 'submit' | 'reset', disabled?: boolean, describedBy?: string }} [opts]
 */
export function button(label, onClick, { kind = 'primary', type = 'button', disabled, describedBy } = {}) {
  const el = h('button', { type, class: kind, disabled, 'aria-describedby': describedBy }, label);
  el.addEventListener('click', () => {
    Promise.resolve(onClick({ currentTarget: el })).catch((err) => console.error('console action failed', err));
  });
  return el;
}

/**
 * A link inside the console (navigates without reloading).
 * @param {string} href
 * @param {Child} text
 * @param {Props} [props]
 */
export function link(href, text, props = {}) {
  return h('a', { href, ...props, dataset: { nav: '' } }, text);
}

/**
 * Section with a heading.
 * @param {string} title
 * @param {...Child} children
 */
export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), children);
}

/**
 * Key/value list.
 * @param {readonly (readonly [string, Child])[]} pairs
 */
export function facts(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '—')]),
  );
}

/**
 * A read-only session sees why the controls are missing.
 * @param {Session} session
 */
export function readOnlyNote(session) {
  return session.role === 'admin' ? null : h('p', { class: 'note' }, 'You are signed in as an auditor: you can read everything here, and change nothing.');
}

/** @param {Session} session */
export const canChange = (session) => session.role === 'admin';

/**
 * The path parameter a detail page's route captures (its regular expression has the group).
 * @param {readonly string[]} params
 */
export function pathParam(params) {
  const param = params[0];
  if (param === undefined) throw new Error("this page's route captures no path parameter");
  return param;
}

/**
 * A JSON value, pre-formatted; it may scroll, so it takes keyboard focus.
 * @param {unknown} value
 */
export const pretty = (value) => h('pre', { class: 'json', tabindex: '0' }, JSON.stringify(value, null, 2));

export const enc = encodeURIComponent;
