// Dashboard: health of storage, shared state and remote key sets, the signing keys, and charts
// over time from the server's own data (the audit trail and the usage counts).
import { api, facts, fill, h, section, table, when, button, messages, act } from '../lib.js';
import { consentFigures } from './consents.js';
/** @import { Chart, ChartConfiguration, ChartDataset, ChartOptions } from 'chart.js' */
/** @import { Child } from '../lib.js' */
/** @import { KeySetState } from './applications.js' */

/**
 * The server's state (GET /api/opendcr/v1/status, src/admin/console-api.ts): this process's
 * remote key sets and the active signing keys.
 * @typedef {object} Status
 * @property {'sandbox' | 'production'} mode
 * @property {string[]} roles what this host does: key_manager, gateway
 * @property {{ kind: string, ok: boolean }} storage
 * @property {{ kind: string, ok: boolean }} sharedState
 * @property {(KeySetState & { keys: number })[]} keySets
 * @property {{ kid: string, alg: string, createdAt: string }[]} signingKeys
 */

/**
 * A usage series: counts per bucket (`at`, its first second) and key (a grant type, an API).
 * @typedef {{ at: string, key: string, count: number }} UsageRow
 */

/**
 * The dashboard's series (GET /api/opendcr/v1/usage, src/admin/console-api.ts): registrations
 * per hour by outcome and reason code, tokens and gateway calls per minute.
 * @typedef {object} Usage
 * @property {{ bucketSeconds: number, since: string, rows: { at: string, event: string, code: string | null, meaning: string | null, count: number }[] }} registrations
 * @property {{ bucketSeconds: number, since: string, rows: UsageRow[] }} tokens
 * @property {{ bucketSeconds: number, since: string, calls: UsageRow[], throttled: UsageRow[] }} gateway
 */

// Colour-blind-safe palette (Okabe–Ito), dark enough for lines on white.
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#8C564B', '#7F7F7F', '#BCBD22'];

/** @type {Set<Chart>} */
const charts = new Set();

/**
 * The chart library's constructor, which vendor/chart.umd.min.js defines as window.Chart;
 * undefined if it did not load.
 * @returns {typeof Chart | undefined}
 */
function chartLibrary() {
  return 'Chart' in window && window.Chart ? /** @type {typeof Chart} */ (window.Chart) : undefined;
}

/** @param {string} iso */
function hourLabel(iso) {
  return new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/**
 * Every bucket of a window, so quiet hours or minutes show as zero rather than vanish.
 * @param {string} sinceIso
 * @param {number} seconds
 * @param {number} count
 */
function buckets(sinceIso, seconds, count) {
  const start = Date.parse(sinceIso);
  return Array.from({ length: count }, (_, i) => new Date(start + i * seconds * 1000).toISOString());
}

/**
 * A chart with its data as a table too (for screen readers, and anyone who would rather read).
 * @param {string} title
 * @param {string} description
 * @param {ChartConfiguration<'bar' | 'line'>} config
 * @param {Child} rows
 */
function chartFigure(title, description, config, rows) {
  const canvas = h('canvas', { role: 'img', 'aria-label': `${title}: ${description}` });
  const figure = h(
    'figure',
    { class: 'chart' },
    h('figcaption', null, h('strong', null, title), ' ', h('span', { class: 'hint' }, description)),
    h('div', { class: 'chart-box' }, canvas),
    h('details', null, h('summary', null, `${title}: the numbers`), rows),
  );
  const ChartJs = chartLibrary();
  if (ChartJs) {
    // Drawn once the page is in the document (Chart.js sizes the canvas from its container).
    setTimeout(() => {
      if (canvas.isConnected) charts.add(new ChartJs(canvas, config));
    }, 0);
  } else {
    canvas.replaceWith(h('p', { class: 'note' }, 'The chart library did not load; the numbers are below.'));
  }
  return figure;
}

/**
 * One dataset per key, a count for each label (0 where there is none).
 * @param {string[]} labels
 * @param {Map<string, Map<string, number>>} rowsByKey
 * @returns {ChartDataset<'bar' | 'line'>[]}
 */
function datasets(labels, rowsByKey) {
  return [...rowsByKey.entries()].map(([key, counts], i) => ({
    label: key,
    data: labels.map((l) => counts.get(l) ?? 0),
    backgroundColor: COLOURS[i % COLOURS.length],
    borderColor: COLOURS[i % COLOURS.length],
    borderWidth: 2,
    pointRadius: 0,
  }));
}

/**
 * @param {boolean} stacked
 * @returns {ChartOptions<'bar' | 'line'>}
 */
const baseOptions = (stacked) => ({
  responsive: true,
  maintainAspectRatio: false,
  animation: false,
  interaction: { mode: 'index', intersect: false },
  scales: { x: { stacked, ticks: { autoSkip: true, maxRotation: 0 } }, y: { stacked, beginAtZero: true, ticks: { precision: 0 } } },
  plugins: { legend: { position: 'bottom' } },
});

/** @param {Usage['registrations']} reg */
function registrationsChart(reg) {
  const labels = buckets(reg.since, 3600, 24);
  /** @type {Map<string, Map<string, number>>} */
  const byKey = new Map();
  for (const r of reg.rows) {
    const key = r.event === 'rejected' ? `rejected: ${r.code ?? 'no code'}` : r.event;
    const counts = byKey.get(key) ?? new Map();
    byKey.set(key, counts);
    const at = new Date(r.at).toISOString();
    counts.set(at, (counts.get(at) ?? 0) + r.count);
  }
  const rows = table(
    'Registrations per hour',
    [
      { label: 'Hour', cell: (r) => when(r.at) },
      { label: 'Outcome', cell: (r) => r.event },
      { label: 'Reason code', cell: (r) => r.code ?? '—' },
      { label: 'Meaning', cell: (r) => r.meaning ?? '—' },
      { label: 'Count', cell: (r) => r.count },
    ],
    reg.rows,
    { empty: 'No registration requests in the last 24 hours.' },
  );
  return chartFigure(
    'Registrations per hour',
    'created, updated, deleted, and rejections by reason code, last 24 hours',
    { type: 'bar', data: { labels: labels.map(hourLabel), datasets: datasets(labels, byKey) }, options: baseOptions(true) },
    rows,
  );
}

/**
 * @param {Usage['tokens']} series
 * @param {string} title
 * @param {string} description
 * @param {string} empty
 */
function perMinute(series, title, description, empty) {
  const labels = buckets(series.since, 60, 60);
  /** @type {Map<string, Map<string, number>>} */
  const byKey = new Map();
  for (const r of series.rows) {
    const counts = byKey.get(r.key) ?? new Map();
    byKey.set(r.key, counts);
    counts.set(new Date(r.at).toISOString(), r.count);
  }
  const rows = table(
    title,
    [
      { label: 'Minute', cell: (r) => when(r.at) },
      { label: 'Grant type', cell: (r) => r.key },
      { label: 'Tokens', cell: (r) => r.count },
    ],
    series.rows,
    { empty },
  );
  return chartFigure(
    title,
    description,
    { type: 'line', data: { labels: labels.map(hourLabel), datasets: datasets(labels, byKey) }, options: baseOptions(false) },
    rows,
  );
}

/** @param {Usage['gateway']} gw */
function gatewayChart(gw) {
  /** @type {Map<string, { api: string, calls: number, throttled: number }>} */
  const totals = new Map();
  for (const r of gw.calls) totals.set(r.key, { api: r.key, calls: (totals.get(r.key)?.calls ?? 0) + r.count, throttled: totals.get(r.key)?.throttled ?? 0 });
  for (const r of gw.throttled) {
    const t = totals.get(r.key) ?? { api: r.key, calls: 0, throttled: 0 };
    t.throttled += r.count;
    totals.set(r.key, t);
  }
  const list = [...totals.values()].sort((a, b) => b.calls - a.calls);
  const rows = table(
    'Gateway calls per API',
    [
      { label: 'API', cell: (r) => r.api },
      { label: 'Calls', cell: (r) => r.calls },
      { label: '429 (throttled)', cell: (r) => r.throttled },
    ],
    list,
    { empty: 'No gateway calls in the last hour.' },
  );
  return chartFigure(
    'Gateway calls per API',
    'calls and 429 answers, last hour',
    {
      type: 'bar',
      data: {
        labels: list.map((r) => r.api),
        datasets: [
          { label: 'calls', data: list.map((r) => r.calls), backgroundColor: COLOURS[0] },
          { label: '429 throttled', data: list.map((r) => r.throttled), backgroundColor: COLOURS[1] },
        ],
      },
      options: { ...baseOptions(false), indexAxis: 'y' },
    },
    rows,
  );
}

/** @param {Status} status */
function health(status) {
  /** @param {boolean} ok */
  const state = (ok) => h('span', { class: ok ? 'badge ok' : 'badge bad' }, ok ? 'up' : 'down');
  return h(
    'div',
    { class: 'cards' },
    h(
      'div',
      { class: 'card' },
      h('h3', null, 'Storage'),
      facts([
        ['Kind', status.storage.kind],
        ['State', state(status.storage.ok)],
      ]),
    ),
    h(
      'div',
      { class: 'card' },
      h('h3', null, 'Shared state'),
      facts([
        ['Kind', status.sharedState.kind],
        ['State', state(status.sharedState.ok)],
      ]),
    ),
    h(
      'div',
      { class: 'card' },
      h('h3', null, 'Server'),
      facts([
        ['Mode', status.mode],
        ['Roles', status.roles.join(', ')],
      ]),
    ),
    h(
      'div',
      { class: 'card' },
      h('h3', null, 'Signing keys'),
      status.signingKeys.length === 0
        ? h('p', null, 'none active')
        : h(
            'ul',
            { class: 'plain' },
            status.signingKeys.map((k) => h('li', null, h('code', null, k.kid), ` ${k.alg}, since ${when(k.createdAt)}`)),
          ),
    ),
  );
}

export async function dashboardPage() {
  for (const c of charts) c.destroy();
  charts.clear();
  const [status, usage, consents] = await Promise.all([
    /** @type {Promise<Status>} */ (api('GET', '/api/opendcr/v1/status')),
    /** @type {Promise<Usage>} */ (api('GET', '/api/opendcr/v1/usage', { query: { hours: 24, minutes: 60 } })),
    consentFigures(),
  ]);
  const msg = messages();
  const chartsEl = h('div', { class: 'charts' });
  /** @param {Usage} u */
  const draw = (u) => {
    for (const c of charts) c.destroy();
    charts.clear();
    fill(
      chartsEl,
      registrationsChart(u.registrations),
      perMinute(u.tokens, 'Tokens per minute', 'tokens issued by grant type, last hour', 'No tokens issued in the last hour.'),
      gatewayChart(u.gateway),
    );
  };
  const refresh = button(
    'Refresh',
    async (event) => {
      await act(
        event.currentTarget,
        msg,
        async () => draw(/** @type {Usage} */ (await api('GET', '/api/opendcr/v1/usage', { query: { hours: 24, minutes: 60 } }))),
        'Charts refreshed.',
      );
    },
    { kind: 'secondary' },
  );
  const page = [
    h('h1', null, 'Dashboard'),
    section('Health', health(status)),
    section(
      'Remote key sets',
      h('p', { class: 'hint' }, 'Key sets this server process has fetched (directory, software and key manager JWKS).'),
      table(
        'Remote key sets',
        [
          { label: 'URL', cell: (k) => h('code', null, k.url) },
          { label: 'Keys', cell: (k) => k.keys },
          { label: 'Last fetch', cell: (k) => when(k.fetchedAt) },
          { label: 'Fetches', cell: (k) => k.fetches },
          { label: 'Last error', cell: (k) => (k.lastError ? `${when(k.lastError.at)}: ${k.lastError.message}` : '—') },
        ],
        status.keySets,
        { empty: 'No remote key set fetched yet.' },
      ),
    ),
    section('Activity', h('div', { class: 'toolbar' }, refresh), msg.el, chartsEl),
    section('Consents', consents),
  ];
  draw(usage);
  return page;
}
