/**
 * docs/architecture.md and the README's "Architecture" section describe the src/ that is there:
 * the picture of the layers is the table test/architecture.test.ts enforces (LAYERS, read from
 * its text, so the two cannot drift), the table of parts has a row for each part, the README's
 * paragraph names each part, and every src/ path either document names exists. Reading files only.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** The rows of LAYERS in test/architecture.test.ts, bottom up, each a list of parts. */
function enforcedLayers(): string[][] {
  const text = read('test/architecture.test.ts');
  const block = /const LAYERS[^=]*=\s*\[([\s\S]*?)\n\];/.exec(text);
  assert.ok(block, 'test/architecture.test.ts declares LAYERS');
  return block[1]!
    .split('\n')
    .map((line) => /^\s*\[([^\]]*)\]/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [...m[1]!.matchAll(/'([^']+)'/g)].map((p) => p[1]!));
}

/** A part as the documents write it: a folder with its slash, a file as it is. */
const written = (part: string) => (part.endsWith('.ts') ? part : `${part}/`);

/** The section of a markdown document under `heading` (to the next heading of the same level or higher). */
function section(markdown: string, heading: string): string {
  const level = /^#+/.exec(heading)![0].length;
  const start = markdown.indexOf(`${heading}\n`);
  assert.ok(start >= 0, `the document has "${heading}"`);
  const rest = markdown.slice(start + heading.length + 1);
  const next = rest.search(new RegExp(`^#{1,${level}} `, 'm'));
  return next === -1 ? rest : rest.slice(0, next);
}

const layers = enforcedLayers();
const parts = layers.flat();
const architecture = read('docs/architecture.md');
const readme = read('README.md');

test('LAYERS is read from test/architecture.test.ts, and it covers every part of src', () => {
  assert.ok(layers.length > 20, `${layers.length} rows read`);
  assert.deepEqual(layers[0], ['errors']);
  assert.deepEqual(layers.at(-1), ['main.ts']);
  const inSrc = readdirSync(join(ROOT, 'src')).filter((name) => !name.startsWith('.'));
  assert.deepEqual([...inSrc].sort(), [...parts].sort());
});

test("docs/architecture.md's picture of the layers is LAYERS, top row first", () => {
  const block = /```text\n([\s\S]*?)```/.exec(section(architecture, '## The layers'));
  assert.ok(block, 'a text block under "## The layers"');
  const drawn = block[1]!
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) =>
      line
        .split(/\s{3,}/)[0]!
        .split(/,\s*/)
        .map((p) => p.trim().replace(/\/$/, '')),
    );
  assert.deepEqual(drawn, [...layers].reverse());
});

test('docs/architecture.md has a row for each part of src, in the order of the layers', () => {
  const rows = [...section(architecture, '## The parts').matchAll(/^\| ([^|]+) \|/gm)]
    .map((m) => m[1]!.trim())
    .filter((cell) => cell !== 'part' && !/^-+$/.test(cell));
  const listed = rows.flatMap((cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\/$/, '')));
  assert.deepEqual(listed, parts);
});

test("the README's Architecture section names every part of src as src/<part>", () => {
  const text = section(readme, '## Architecture');
  assert.deepEqual(
    parts.filter((p) => !text.includes(`src/${written(p)}`)),
    [],
  );
  assert.match(text, /\(docs\/architecture\.md\)/);
});

test('every src/ path docs/architecture.md, docs/gateway.md, docs/dcr.md and the README name exists', () => {
  const documents = ['docs/architecture.md', 'docs/gateway.md', 'docs/dcr.md', 'README.md'];
  const missing = documents.flatMap((doc) =>
    [...read(doc).matchAll(/\bsrc\/[\w./-]*[\w/]/g)]
      .map((m) => m[0].replace(/\.$/, ''))
      .flatMap((path) => (existsSync(join(ROOT, path)) ? [] : [`${doc}: ${path}`])),
  );
  assert.deepEqual(missing, []);
});
