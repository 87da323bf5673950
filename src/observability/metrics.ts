/**
 * Prometheus metrics (prom-client): what the server does, counted per process and aggregated
 * across worker processes, so a scrape answers the same whichever worker takes it. Labels are
 * bounded: route templates, methods, status classes, grant types, auth methods, DCR operations and
 * error codes, key set hosts (bounded by the outbound allow-list), storage operation names; never
 * client ids, tokens or raw paths.
 *
 * prom-client keeps its cluster plumbing in module state (one registry list per process), so
 * there is one Metrics per process: `processMetrics()` creates it on first use.
 */
import cluster from 'node:cluster';
import client from 'prom-client';

export interface Metrics {
  readonly registry: client.Registry;
  /** One finished request: route template, method, status (0 when nothing was sent), seconds; its error code if any. */
  request(route: string, method: string, status: number, seconds: number, code: string | undefined): void;
  tokenIssued(grantType: string, authMethod: string): void;
  dcr(operation: string, outcome: 'ok' | 'rejected', code: string | null): void;
  /** A gateway call by API name (bounded by the catalogue), outcome and error code. */
  gateway(api: string, outcome: 'ok' | 'rejected', code: string | null): void;
  /** A remote key set was needed: served from the cache (hit), fetched (miss), or could not be had (error). */
  keySet(host: string, result: 'hit' | 'miss' | 'error'): void;
  storage(operation: string, seconds: number): void;
  replayRejected(kind: string): void;
}

const statusClass = (status: number) => (status === 0 ? 'none' : `${Math.floor(status / 100)}xx`);

/**
 * The labelled child of a metric, looked up once per label combination: prom-client hashes the
 * label object on every call otherwise, which showed up on the token endpoint's profile.
 */
function cached<T>(make: (...values: string[]) => T): (...values: string[]) => T {
  const children = new Map<string, T>();
  return (...values) => {
    const key = values.join('\u0000');
    let child = children.get(key);
    if (child === undefined) {
      child = make(...values);
      children.set(key, child);
    }
    return child;
  };
}

function create(): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const requests = new client.Counter({
    name: 'opendcr_http_requests_total',
    help: 'HTTP requests by route template, method and status class',
    labelNames: ['route', 'method', 'status_class'],
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: 'opendcr_http_request_duration_seconds',
    help: 'HTTP request latency by route template and method',
    labelNames: ['route', 'method'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const errors = new client.Counter({
    name: 'opendcr_http_errors_total',
    help: 'Error answers by route template and error code (src/errors/codes.ts, or oauth:<error> from the protocol engine)',
    labelNames: ['route', 'code'],
    registers: [registry],
  });
  const tokens = new client.Counter({
    name: 'opendcr_tokens_issued_total',
    help: 'Tokens issued at the token endpoint by grant type and client authentication method',
    labelNames: ['grant_type', 'auth_method'],
    registers: [registry],
  });
  const dcr = new client.Counter({
    name: 'opendcr_dcr_requests_total',
    help: 'DCR requests by operation, outcome and error code (none when accepted)',
    labelNames: ['operation', 'outcome', 'code'],
    registers: [registry],
  });
  const gateway = new client.Counter({
    name: 'opendcr_gateway_requests_total',
    help: 'Gateway calls by API name, outcome and error code (none when passed to the backend); 429s are code GATEWAY_THROTTLED',
    labelNames: ['api', 'outcome', 'code'],
    registers: [registry],
  });
  const keySets = new client.Counter({
    name: 'opendcr_jwks_requests_total',
    help: 'Remote key set uses by host: hit (cached), miss (fetched), error (could not be fetched)',
    labelNames: ['host', 'result'],
    registers: [registry],
  });
  const storage = new client.Histogram({
    name: 'opendcr_storage_operation_duration_seconds',
    help: 'Storage operation latency by operation',
    labelNames: ['operation'],
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const replay = new client.Counter({
    name: 'opendcr_replay_rejections_total',
    help: 'One-time identifiers presented again, by kind',
    labelNames: ['kind'],
    registers: [registry],
  });
  // Workers answer the primary's aggregation requests from this registry (an AggregatorRegistry
  // built in a worker installs prom-client's listener for them).
  client.AggregatorRegistry.setRegistries([registry]);
  if (cluster.isWorker) new client.AggregatorRegistry();
  const requestsOf = cached((route, method, status) => requests.labels({ route: route!, method: method!, status_class: status! }));
  const durationOf = cached((route, method) => duration.labels({ route: route!, method: method! }));
  const storageOf = cached((operation) => storage.labels({ operation: operation! }));
  const errorsOf = cached((route, code) => errors.labels({ route: route!, code: code! }));
  const gatewayOf = cached((api, outcome, code) => gateway.labels({ api: api!, outcome: outcome!, code: code! }));
  const tokensOf = cached((grantType, authMethod) => tokens.labels({ grant_type: grantType!, auth_method: authMethod! }));
  return {
    registry,
    request(route, method, status, seconds, code) {
      requestsOf(route, method, statusClass(status)).inc();
      durationOf(route, method).observe(seconds);
      if (code !== undefined) errorsOf(route, code).inc();
    },
    tokenIssued: (grantType, authMethod) => tokensOf(grantType, authMethod).inc(),
    dcr: (operation, outcome, code) => dcr.inc({ operation, outcome, code: code ?? 'none' }),
    gateway: (api, outcome, code) => gatewayOf(api, outcome, code ?? 'none').inc(),
    keySet: (host, result) => keySets.inc({ host, result }),
    storage: (operation, seconds) => storageOf(operation).observe(seconds),
    replayRejected: (kind) => replay.inc({ kind }),
  };
}

let metrics: Metrics | undefined;

/** This process's metrics. */
export function processMetrics(): Metrics {
  metrics ??= create();
  return metrics;
}

const REQUEST = 'opendcr:metrics-request';
const RESPONSE = 'opendcr:metrics-response';
const WAIT_MS = 5000;
let requestCounter = 0;

/**
 * The exposition text for the whole server: in a worker, the primary aggregates every worker's
 * metrics (prom-client's AggregatorRegistry); in a single process, its own.
 */
export async function metricsText(): Promise<string> {
  if (!cluster.isWorker || !process.send) return processMetrics().registry.metrics();
  const id = `${process.pid}:${++requestCounter}`;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new Error('metrics: the primary did not answer'));
    }, WAIT_MS);
    const onMessage = (m: { type?: string; id?: string; text?: string; error?: string }) => {
      if (m?.type !== RESPONSE || m.id !== id) return;
      clearTimeout(timer);
      process.off('message', onMessage);
      if (typeof m.text === 'string') resolve(m.text);
      else reject(new Error(`metrics: ${m.error ?? 'aggregation failed'}`));
    };
    process.on('message', onMessage);
    process.send!({ type: REQUEST, id });
  });
}

/** In the cluster primary: aggregates on a worker's request, and for its own metrics listener. */
export function servePrimaryMetrics(): { text(): Promise<string> } {
  const aggregator = new client.AggregatorRegistry();
  cluster.on('message', (worker, m: { type?: string; id?: string }) => {
    if (m?.type !== REQUEST) return;
    const reply = (message: Record<string, unknown>) => {
      // The worker may have gone meanwhile; its scrape has failed with it.
      if (worker.isConnected()) worker.send({ type: RESPONSE, id: m.id, ...message });
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (err: unknown) => reply({ error: (err as Error).message }),
    );
  });
  return { text: () => aggregator.clusterMetrics() };
}

export const METRICS_CONTENT_TYPE = client.register.contentType;
