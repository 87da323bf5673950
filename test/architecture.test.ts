/**
 * The boundaries the code keeps: every import points down the layering below (type imports
 * included), no two files import each other round a circle, oidc-provider stays inside src/oauth
 * (other modules ask the key manager's services, never the provider's models), and storage and
 * shared-state backends stay behind their ports. docs/architecture.md draws the same layers.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';

const SRC = new URL('../src', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : /\.(ts|js)$/.test(path) ? [path] : [];
  });
}

const files = sources(SRC).map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }));

/**
 * The parts of src (a top-level folder, or a file at the top) from the bottom up. A file may import
 * its own part and the parts of the rows below its own, never a row above nor one of its own row.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors'], // coded errors and how they are answered
  ['ob'], // Open Banking's vocabulary: roles and scopes
  ['logger.ts'],
  ['http'], // the request front, client certificates, outbound fetch, bodies, media types
  ['config'],
  ['sqlite'], // the SQLite write queue and error mapping the database and the embedded shared state share
  ['storage'],
  ['shared-state'],
  ['crypto'],
  ['tls'],
  ['sandbox'], // the sandbox directory, its TPPs and the service every surface calls
  ['consent'], // Open Banking consents: the intent resources, their statuses and rules
  ['oauth'], // the key manager (oidc-provider inside)
  ['gateway'], // the runtime: routes, tokens, checks, proxy
  ['apim'], // the API-manager control plane: catalogue, key managers, subscriptions, their REST API
  ['dcr'],
  ['observability'],
  ['admin'], // the console and the operations APIs
  ['runtime-file.ts', 'prepare.ts', 'compile-cache.ts'],
  ['app.ts'],
  ['compose'], // the parts of one process, each built with how to close it
  ['server.ts'], // the composition root of one process
  ['cluster.ts'],
  ['preflight.ts'],
  ['start.ts'],
  ['cli'],
  ['main.ts'],
];
const partOf = (path: string) => path.split('/')[0]!;
const layerOf = new Map(LAYERS.flatMap((row, i) => row.map((part) => [part, i] as const)));

const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

/** Every relative import of every file of src, type imports and dynamic ones included: from → to. */
const imports = files.flatMap((f) =>
  [...f.text.matchAll(IMPORT)].map((m) => {
    const to = normalize(join(dirname(f.path), m[1] ?? m[2]!));
    return { from: f.path, to };
  }),
);

test('every part of src has a row in the layering', () => {
  const parts = new Set(files.map((f) => partOf(f.path)));
  assert.deepEqual(
    [...parts].filter((p) => !layerOf.has(p)),
    [],
  );
  assert.deepEqual(
    [...layerOf.keys()].filter((p) => !parts.has(p)),
    [],
    'a row names a part that is gone',
  );
  assert.ok(imports.length > 500, `${imports.length} imports read`);
  for (const i of imports) assert.ok(existsSync(join(SRC, i.to)), `${i.from} imports ${i.to}, which is not a file of src`);
});

test('every import points down the layering (type imports too)', () => {
  const up = imports.filter((i) => partOf(i.from) !== partOf(i.to) && layerOf.get(partOf(i.from))! <= layerOf.get(partOf(i.to))!);
  assert.deepEqual(
    up.map((i) => `${i.from} → ${i.to}`),
    [],
  );
});

/** The strongly connected components of more than one node (Tarjan). */
function circles(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

const graph = (key: (path: string) => string) => {
  const edges = new Map<string, Set<string>>();
  for (const i of imports) {
    const [a, b] = [key(i.from), key(i.to)];
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)!.add(b);
  }
  return edges;
};

test('no circle of imports: between files, nor between the top-level parts of src', () => {
  assert.deepEqual(circles(graph((p) => p)), [], 'files');
  assert.deepEqual(circles(graph(partOf)), [], 'parts');
  // The check can fail: a made-up circle is found.
  assert.deepEqual(
    circles(
      new Map([
        ['a', new Set(['b'])],
        ['b', new Set(['c'])],
        ['c', new Set(['a'])],
      ]),
    ),
    [['a', 'b', 'c']],
  );
});

test('only src/oauth imports oidc-provider or reaches the provider instance', () => {
  const outside = files.filter((f) => !f.path.startsWith('oauth/'));
  assert.ok(outside.length > 50);
  for (const f of outside) {
    assert.doesNotMatch(f.text, /from 'oidc-provider'/, `${f.path} imports oidc-provider`);
    assert.doesNotMatch(f.text, /KeyManagerInternals/, `${f.path} uses the key manager's internals`);
    assert.doesNotMatch(
      f.text,
      /keyManager\.provider|km\.provider|\.provider\.(Client|AccessToken|ClientCredentials|RegistrationAccessToken|Grant)\b/,
      `${f.path} touches the provider`,
    );
  }
});

test('domain code depends on the storage ports, not on a backend', () => {
  for (const f of files.filter((x) => !x.path.startsWith('storage/'))) {
    assert.doesNotMatch(f.text, /from '\.\.?\/(\.\.\/)*storage\/(sqlite|postgres)\//, `${f.path} imports a storage backend`);
  }
});

test('domain code depends on the shared-state port, not on a backend or a Redis client', () => {
  const outside = files.filter((x) => !x.path.startsWith('shared-state/'));
  for (const f of outside) {
    assert.doesNotMatch(f.text, /from '\.\.?\/(\.\.\/)*shared-state\/(embedded|postgres|redis)\.ts'/, `${f.path} imports a shared-state backend`);
    assert.doesNotMatch(f.text, /from 'ioredis'/, `${f.path} imports ioredis`);
  }
});
