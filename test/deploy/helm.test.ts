/**
 * deploy/helm/opendcr, checked without Helm or a cluster: the templates are rendered with the
 * strict subset renderer in helm-render.ts (which throws on anything it does not know), every
 * rendered object is type-checked against the Kubernetes API types (kubernetes-types, with
 * TypeScript's excess-property check catching unknown fields), and the test asserts what must
 * hold together: selectors, probes on the health endpoints of the configured port, the Secret
 * references, a non-root read-only container, and the ConfigMap's opendcr.toml passing the
 * server's own configuration check with the files and environment the pod would have.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createCertificateAuthority, issueServerCertificate } from '../../src/crypto/pki.ts';
import { RenderError, parseYamlStrict, renderChart } from './helm-render.ts';
import { checkDeployedConfig, repoPath } from './support.ts';

// Rendered manifests are walked freely here; the type check below is what holds them to the API types.
// biome-ignore lint/suspicious/noExplicitAny: see the line above
type Tree = Record<string, any>;
const CHART = repoPath('deploy', 'helm', 'opendcr');
const HOST = { server: { hostname: 'auth.bank.example' } };
const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string };

// ----- The renderer itself: what it does, and that it refuses what it does not know.

/** Renders one template inside a throw-away chart, through the same code path as the real chart. */
function renderOne(src: string, values: Tree = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-chart-'));
  try {
    writeFileSync(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: t\nversion: 1.0.0\nappVersion: "1"\n');
    writeFileSync(join(dir, 'values.yaml'), JSON.stringify(values));
    mkdirSync(join(dir, 'templates'));
    writeFileSync(join(dir, 'templates', 't.yaml'), src);
    return renderChart(dir, { parse: false }).files.get('t.yaml')!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the renderer: trim markers, if / else if / else, with, include, pipelines, functions', () => {
  assert.equal(renderOne('a\n  {{- " b" }}\n{{ "c" -}}\n  d'), 'a b\ncd');
  assert.equal(renderOne('{{ if .Values.x }}x{{ else if .Values.y }}y{{ else }}z{{ end }}', { x: '', y: 1 }), 'y');
  assert.equal(renderOne('{{ with .Values.m }}{{ .k }}{{ else }}none{{ end }}', { m: { k: 'v' } }), 'v');
  assert.equal(renderOne('{{ with .Values.m }}{{ .k }}{{ else }}none{{ end }}', { m: {} }), 'none');
  assert.equal(renderOne('{{- define "n" -}}[{{ . }}]{{- end -}}{{ include "n" "v" | quote }}'), '"[v]"');
  assert.equal(renderOne('{{ default "d" .Values.e }} {{ .Values.n }} {{ .Values.b }}', { e: '', n: 8443, b: false }), 'd 8443 false');
  assert.equal(renderOne('l:{{ toYaml .Values.m | nindent 2 }}', { m: { b: 1, a: [1, 'x'] } }), 'l:\n  a:\n    - 1\n    - x\n  b: 1');
  assert.equal(renderOne('{{ .Values.l | toJson }}', { l: ['10.0.0.0/8', 'a<b'] }), '["10.0.0.0/8","a\\u003cb"]');
  assert.equal(renderOne('{{ printf "%s-%s" "a" .Values.v | trunc 3 | trimSuffix "-" }}', { v: 'b' }), 'a-b');
  assert.equal(renderOne('{{ if and (eq .Values.t "x") (not .Values.f) }}yes{{ end }}', { t: 'x', f: [] }), 'yes');
  assert.equal(renderOne('{{ .Release.Name }}/{{ .Chart.AppVersion }}'), 'opendcr/1');
});

test('the renderer refuses what Helm would render doubtfully or what it does not implement', () => {
  const refuses = (src: string, values: Tree, why: RegExp) =>
    assert.throws(
      () => renderOne(src, values),
      (e: unknown) => e instanceof RenderError && why.test(e.message),
    );
  refuses('{{ .Values.missing }}', {}, /not set/);
  refuses('{{ if .Values.a.b }}x{{ end }}', { a: null }, /empty/);
  refuses('{{ .Values.n }}', { n: 1000000 }, /float64/);
  refuses('{{ .Values.m }}', { m: { a: 1 } }, /map/);
  refuses('{{ range .Values.l }}x{{ end }}', { l: [1] }, /not supported/);
  refuses('{{ $x := 1 }}', {}, /variables/);
  refuses('{{ upper "x" }}', {}, /not supported/);
  refuses('{{ printf "%d" .Values.n }}', { n: 1 }, /not supported/);
  refuses('{{ eq .Values.n "1" }}', { n: 1 }, /incompatible/);
  refuses('{{ required "need it" .Values.s }}', { s: '' }, /need it/);
  refuses('{{ fail "stop" }}', {}, /stop/);
  refuses('{{ if .Values.x }}', { x: 1 }, /without \{\{ end \}\}/);
  // Manifests must read the same as YAML 1.1 (Helm, kubectl) and 1.2.
  assert.throws(() => parseYamlStrict('mode: 0640\n', 'm'), /YAML 1\.1 and 1\.2/);
  assert.throws(() => parseYamlStrict('enabled: on\n', 'm'), /YAML 1\.1 and 1\.2/);
  assert.deepEqual(parseYamlStrict('mode: 288\nenabled: true\n', 'm'), { mode: 288, enabled: true });
});

// ----- The chart.

const rendered = renderChart(CHART, { values: HOST });
const V = rendered.values as Tree;
const byKind = (kind: string) => rendered.objects.filter((o) => o['kind'] === kind) as Tree[];
const deployment = byKind('Deployment')[0]!;
const pod = deployment['spec']['template'];
const container = pod['spec']['containers'][0];

test('the chart renders a Deployment, two Services, a ConfigMap and a PodDisruptionBudget, each with apiVersion, kind and name', () => {
  const kinds = rendered.objects.map((o) => `${o['apiVersion']} ${o['kind']}`).sort();
  assert.deepEqual(kinds, ['apps/v1 Deployment', 'policy/v1 PodDisruptionBudget', 'v1 ConfigMap', 'v1 Service', 'v1 Service']);
  for (const o of rendered.objects) {
    const name = (o['metadata'] as Tree | undefined)?.['name'];
    assert.match(String(name), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${String(o['kind'])} has a DNS-1123 name`);
    assert.ok(String(name).length <= 63);
  }
  assert.equal(byKind('Secret').length, 0, 'the chart creates no Secret: it only refers to existing ones');
  const chart = readFileSync(join(CHART, 'Chart.yaml'), 'utf8');
  assert.match(chart, new RegExp(`^appVersion: "${pkg.version.replaceAll('.', '\\.')}"$`, 'm'), 'appVersion is the package version (the image tag by default)');
  assert.equal(container['image'], `opendcr:${pkg.version}`);
});

/** Type-checks objects against kubernetes-types with tsc; returns tsc's output and exit code. */
function typeCheck(objects: Tree[]): Promise<{ code: number; output: string }> {
  const types: Record<string, [string, string]> = {
    Deployment: ['apps/v1', 'Deployment'],
    Service: ['core/v1', 'Service'],
    ConfigMap: ['core/v1', 'ConfigMap'],
    PodDisruptionBudget: ['policy/v1', 'PodDisruptionBudget'],
  };
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-k8s-types-'));
  const lines: string[] = [];
  const imported = new Set<string>();
  objects.forEach((o, i) => {
    const t = types[String(o['kind'])];
    assert.ok(t, `a type for ${String(o['kind'])}`);
    const [group, name] = t;
    if (!imported.has(`${group}/${name}`)) {
      lines.unshift(`import type { ${name} as ${name}_${group.replace('/', '_')} } from '${repoPath('node_modules', 'kubernetes-types', `${group}.d.ts`)}';`);
      imported.add(`${group}/${name}`);
    }
    lines.push(`export const o${i}: ${name}_${group.replace('/', '_')} = ${JSON.stringify(o, null, 1)};`);
  });
  const file = join(dir, 'objects.ts');
  writeFileSync(file, lines.join('\n'));
  const tsc = repoPath('node_modules', 'typescript', 'bin', 'tsc');
  const args = [
    tsc,
    '--noEmit',
    '--strict',
    '--target',
    'es2024',
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--allowImportingTsExtensions',
    '--types',
    '',
    '--skipLibCheck',
    'false',
    file,
  ];
  return new Promise((done) => {
    execFile(process.execPath, args, { cwd: dir, timeout: 120_000 }, (err, stdout, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, output: stdout + stderr });
    });
  });
}

test('every rendered object is a valid Kubernetes object by the API types (no unknown field, right types, required fields)', async () => {
  const ok = await typeCheck(rendered.objects);
  assert.equal(ok.code, 0, ok.output);
  // The check can fail: an unknown field and a wrong type are caught.
  const broken = structuredClone(deployment);
  broken['spec']['template']['spec']['containers'][0]['livenessProbe']['httpGet']['pathh'] = '/health/live';
  broken['spec']['replicas'] = '2';
  const bad = await typeCheck([broken]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.output, /'"?pathh"?' does not exist/);
  assert.match(bad.output, /Type 'string' is not assignable to type 'number'/);
});

test('the Deployment, both Services and the PodDisruptionBudget select the same pods', () => {
  const labels = pod['metadata']['labels'] as Record<string, string>;
  const selector = deployment['spec']['selector']['matchLabels'] as Record<string, string>;
  assert.ok(Object.keys(selector).length >= 2);
  for (const [k, v] of Object.entries(selector)) assert.equal(labels[k], v, `the pod template carries ${k}=${v}`);
  for (const svc of byKind('Service')) assert.deepEqual(svc['spec']['selector'], selector, `Service ${svc['metadata']['name']} selects the Deployment's pods`);
  const pdb = byKind('PodDisruptionBudget')[0]!;
  assert.deepEqual(pdb['spec']['selector']['matchLabels'], selector);
  assert.equal(pdb['spec']['maxUnavailable'], 1);
  assert.ok(deployment['spec']['replicas'] >= 2, 'two replicas by default, so one can be evicted');
  assert.deepEqual(pod['spec']['topologySpreadConstraints'][0]['labelSelector']['matchLabels'], selector);
  // Rolling updates never drop below the replica count.
  assert.equal(deployment['spec']['strategy']['rollingUpdate']['maxUnavailable'], 0);
});

test('probes: liveness and startup on /health/live, readiness on /health/ready, HTTPS on the configured port', () => {
  const ports = container['ports'] as Tree[];
  const https = ports.find((p) => p['name'] === 'https')!;
  assert.equal(https['containerPort'], V['server']['port']);
  for (const [probe, path] of [
    ['livenessProbe', '/health/live'],
    ['startupProbe', '/health/live'],
    ['readinessProbe', '/health/ready'],
  ] as const) {
    const get = container[probe]['httpGet'];
    assert.equal(get['path'], path, `${probe} path`);
    assert.equal(get['scheme'], 'HTTPS', `${probe} scheme (the server listens on HTTPS only)`);
    assert.equal(get['port'], 'https', `${probe} port`);
  }
  const svc = byKind('Service').find((s) => s['metadata']['name'] === deployment['metadata']['name'])!;
  assert.equal(svc['spec']['ports'][0]['targetPort'], 'https', 'the Service reaches the HTTPS port');
  const metrics = byKind('Service').find((s) => s['metadata']['name'] !== deployment['metadata']['name'])!;
  assert.equal(metrics['spec']['type'], 'ClusterIP', 'metrics stay inside the cluster');
  assert.equal(metrics['spec']['ports'][0]['targetPort'], 'metrics');
  assert.ok(ports.some((p) => p['name'] === 'metrics' && p['containerPort'] === V['metrics']['port']));
  assert.ok(pod['spec']['terminationGracePeriodSeconds'] > 10 + 5, "grace period above the server's shutdown_timeout plus the preStop pause");
});

test('the container runs non-root, read-only, with no privilege escalation, no capabilities and no service account token', () => {
  assert.equal(pod['spec']['securityContext']['runAsNonRoot'], true);
  const uid = pod['spec']['securityContext']['runAsUser'];
  assert.notEqual(uid, 0);
  const dockerUser = /^USER\s+(\d+)/m.exec(readFileSync(repoPath('Dockerfile'), 'utf8'))?.[1];
  assert.equal(String(uid), dockerUser, "the same uid as the image's USER");
  assert.equal(container['securityContext']['allowPrivilegeEscalation'], false);
  assert.equal(container['securityContext']['readOnlyRootFilesystem'], true);
  assert.deepEqual(container['securityContext']['capabilities']['drop'], ['ALL']);
  assert.equal(pod['spec']['automountServiceAccountToken'], false);
  // What the server writes is on emptyDir volumes: the data folder (and /tmp).
  const mounts = container['volumeMounts'] as Tree[];
  const volumes = pod['spec']['volumes'] as Tree[];
  const data = mounts.find((m) => m['mountPath'] === '/var/lib/opendcr')!;
  assert.ok(volumes.find((v) => v['name'] === data['name'])!['emptyDir'], 'the data folder is writable');
  assert.equal(container['command'], undefined, "the image's CMD starts the server");
  assert.equal(container['args'], undefined);
});

test('secrets only by reference: every secret variable comes from the Secret named in values, with the keys the README tells to create', () => {
  const env = container['env'] as Tree[];
  const values = V;
  const expected: Record<string, string> = {
    OPENDCR_ADMIN_PASSWORD: values['secrets']['adminPasswordKey'],
    OPENDCR_DATABASE_URL: values['secrets']['databaseUrlKey'],
    OPENDCR_REDIS_URL: values['secrets']['redisUrlKey'],
    OPENDCR_METRICS_TOKEN: values['secrets']['metricsTokenKey'],
  };
  assert.deepEqual(env.map((e) => e['name']).sort(), Object.keys(expected).sort());
  for (const e of env) {
    assert.equal(e['value'], undefined, `${e['name']} has no literal value`);
    assert.deepEqual(e['valueFrom']['secretKeyRef'], { name: values['secrets']['name'], key: expected[e['name']] }, `${e['name']} from the Secret`);
  }
  const volumes = pod['spec']['volumes'] as Tree[];
  const tls = volumes.find((v) => v['name'] === 'tls')!;
  assert.equal(tls['secret']['secretName'], values['tls']['secretName']);
  const readme = readFileSync(repoPath('README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Packaging: Docker, compose, Helm'));
  assert.ok(readme.includes('## Packaging: Docker, compose, Helm'));
  const create = /kubectl create secret generic (\S+)((?:[^\n\\]|\\\n)*)/.exec(section);
  assert.ok(create, 'the README shows how to create the Secret');
  assert.equal(create[1], values['secrets']['name']);
  for (const key of Object.values(expected)) assert.match(create[2]!, new RegExp(`--from-literal=${key}=`), `the README creates key ${key}`);
  assert.match(section, new RegExp(`kubectl create secret tls ${values['tls']['secretName']} `), 'and the TLS Secret');
  // No value in values.yaml looks like a secret.
  // (values only: the comments show the shape of the Secret's URLs)
  const valuesText = readFileSync(join(CHART, 'values.yaml'), 'utf8')
    .split('\n')
    .map((l) => l.replace(/(^|\s)#.*$/, ''))
    .join('\n');
  assert.doesNotMatch(valuesText, /^\s*(password|token|secret|client_secret)\s*:/im);
  assert.doesNotMatch(valuesText, /(postgres|redis):\/\/[^\s:]+:[^\s@]+@/, 'no URL with a password');
});

async function configFromChart(values: Tree): Promise<{ toml: string; check: Awaited<ReturnType<typeof checkDeployedConfig>> }> {
  const r = renderChart(CHART, { values });
  const cm = r.objects.find((o) => o['kind'] === 'ConfigMap') as Tree;
  const toml = cm['data']['opendcr.toml'] as string;
  const dep = r.objects.find((o) => o['kind'] === 'Deployment') as Tree;
  const c = dep['spec']['template']['spec']['containers'][0];
  // The files the pod has: the TLS Secret's tls.crt and tls.key where the tls volume is mounted.
  const tlsMount = (c['volumeMounts'] as Tree[]).find((m) => m['name'] === 'tls')!['mountPath'] as string;
  const hostname = (r.values as Tree)['server']['hostname'] as string;
  const ca = await createCertificateAuthority({ subject: 'CN=Bank CA', validityDays: 2 });
  const server = await issueServerCertificate(ca, { dnsNames: [hostname], ipAddresses: [], validityDays: 2 });
  const files = new Map([
    [`${tlsMount}/tls.crt`, server.chainPem],
    [`${tlsMount}/tls.key`, server.keyPem],
  ]);
  const configMount = (c['volumeMounts'] as Tree[]).find((m) => m['name'] === 'config')!;
  assert.equal(configMount['mountPath'], '/etc/opendcr/opendcr.toml', "the file the image's CMD reads");
  assert.equal(configMount['subPath'], 'opendcr.toml');
  // The environment from the Secret, with values of the right shape.
  const secret: Record<string, string> = {
    [(r.values as Tree)['secrets']['adminPasswordKey']]: 'a-long-production-password',
    [(r.values as Tree)['secrets']['databaseUrlKey']]: 'postgres://opendcr:pw@postgres.db.svc:5432/opendcr',
    [(r.values as Tree)['secrets']['redisUrlKey']]: 'redis://:pw@redis.db.svc:6379/0',
    [(r.values as Tree)['secrets']['metricsTokenKey']]: '0123456789abcdef0123',
  };
  const env = Object.fromEntries((c['env'] as Tree[]).map((e) => [e['name'], secret[e['valueFrom']['secretKeyRef']['key']]]));
  const check = await checkDeployedConfig({ toml, files, dirs: ['/var/lib/opendcr'], env, prefixes: ['/etc/opendcr/', '/var/lib/opendcr'] });
  return { toml, check };
}

test("the ConfigMap's opendcr.toml passes the server's configuration check with the pod's files and environment", async () => {
  const { check } = await configFromChart(HOST);
  try {
    assert.deepEqual(check.problems, []);
    assert.deepEqual(check.warnings, []);
    const c = check.config!;
    assert.equal(c.server.mode, 'production');
    assert.equal(c.server.port, V['server']['port'], 'the port the probes and the Service use');
    assert.equal(c.server.bind_address, '0.0.0.0');
    assert.equal(c.metrics.port, V['metrics']['port']);
    assert.equal(c.metrics.bind_address, '0.0.0.0', 'reachable by the metrics Service');
    assert.ok(c.metrics.token, 'with a token');
    assert.equal(c.derived.issuer, 'https://auth.bank.example:8443');
    assert.equal((c as unknown as { redis: { url?: string } }).redis.url, 'redis://:pw@redis.db.svc:6379/0');
    assert.equal(c.apimgt.mutual_ssl.client_certificate_header, undefined, 'TLS passes through by default: no header is believed');
  } finally {
    rmSync(check.root, { recursive: true, force: true });
  }
});

test("behind a TLS-terminating ingress: the header and the proxies' addresses reach opendcr.toml; a header without proxies is refused", async () => {
  const values = {
    ...HOST,
    server: { ...HOST.server, baseUrl: 'https://auth.bank.example' },
    mutualSsl: { clientCertificateHeader: 'ssl-client-cert', trustedProxies: ['10.244.0.0/16', 'fd00::/8'] },
    config: { extra: '[oauth]\nallowed_outbound_hosts = ["keystore.openbankingtest.org.uk"]' },
  };
  const { check } = await configFromChart(values);
  try {
    assert.deepEqual(check.problems, []);
    const ssl = check.config!.apimgt.mutual_ssl;
    assert.equal(ssl.client_certificate_header, 'ssl-client-cert');
    assert.equal(ssl.client_certificate_encode, true);
    assert.deepEqual(ssl.trusted_proxies, ['10.244.0.0/16', 'fd00::/8']);
    assert.equal(check.config!.derived.issuer, 'https://auth.bank.example');
    assert.ok(check.config!.oauth.allowed_outbound_hosts.includes('keystore.openbankingtest.org.uk'), 'config.extra is appended');
  } finally {
    rmSync(check.root, { recursive: true, force: true });
  }
  assert.throws(() => renderChart(CHART, { values: { ...HOST, mutualSsl: { clientCertificateHeader: 'ssl-client-cert' } } }), /trustedProxies must list/);
  assert.throws(() => renderChart(CHART, { values: {} }), /server\.hostname is required/);
});

test('options: a LoadBalancer keeps client addresses; Redis optional; the configuration from a Secret; no PodDisruptionBudget', async () => {
  const lb = renderChart(CHART, { values: { ...HOST, service: { type: 'LoadBalancer' } } });
  const svc = lb.objects.find((o) => o['kind'] === 'Service') as Tree;
  assert.equal(svc['spec']['type'], 'LoadBalancer');
  assert.equal(svc['spec']['externalTrafficPolicy'], 'Local', 'the per-address connection limit sees TPP addresses');
  assert.equal((rendered.objects.find((o) => o['kind'] === 'Service') as Tree)['spec']['externalTrafficPolicy'], undefined, 'not set on a ClusterIP Service');

  const noRedis = renderChart(CHART, { values: { ...HOST, secrets: { redisUrlKey: '' } } });
  const env = (noRedis.objects.find((o) => o['kind'] === 'Deployment') as Tree)['spec']['template']['spec']['containers'][0]['env'] as Tree[];
  assert.ok(!env.some((e) => e['name'] === 'OPENDCR_REDIS_URL'));

  const fromSecret = renderChart(CHART, { values: { config: { existingSecret: 'opendcr-config' } } });
  assert.ok(!fromSecret.objects.some((o) => o['kind'] === 'ConfigMap'), 'no ConfigMap');
  const dep = fromSecret.objects.find((o) => o['kind'] === 'Deployment') as Tree;
  const vol = (dep['spec']['template']['spec']['volumes'] as Tree[]).find((v) => v['name'] === 'config')!;
  assert.deepEqual(vol['secret'], { secretName: 'opendcr-config' });
  assert.equal(dep['spec']['template']['metadata']['annotations']['checksum/config'], undefined);

  const noPdb = renderChart(CHART, { values: { ...HOST, podDisruptionBudget: { enabled: false } } });
  assert.ok(!noPdb.objects.some((o) => o['kind'] === 'PodDisruptionBudget'));

  // The variants are valid objects too.
  const all = [lb, noRedis, fromSecret, noPdb].flatMap((r) => r.objects);
  const typed = await typeCheck(all);
  assert.equal(typed.code, 0, typed.output);
});

test('a changed configuration changes the pod template (the pods roll)', () => {
  const other = renderChart(CHART, { values: { ...HOST, server: { ...HOST.server, workers: 4 } } });
  const a = pod['metadata']['annotations']['checksum/config'];
  const b = (other.objects.find((o) => o['kind'] === 'Deployment') as Tree)['spec']['template']['metadata']['annotations']['checksum/config'];
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.notEqual(a, b);
});
