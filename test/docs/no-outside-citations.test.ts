/**
 * The code, the tests and the benchmarks cite only what a reader of the repository can open. The
 * design facts they rely on are written in docs/ (architecture.md, gateway.md, dcr.md); public
 * standards are cited by name and section (RFC 7591 §3.2.2, FAPI 1.0 Advanced §8.6, ETSI TS 119
 * 495, the OB specification). What these checks refuse are the forms that point outside: the
 * design notes and the OB DCR digest kept beside the repository, their section numbers, and the
 * issue numbers of the project's tracker. A second group of checks makes sure every link of the
 * documentation to a file of the repository (and every docs/ reference in the code) resolves, its
 * #anchor included. Reading files only: no sockets, no processes.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SELF = relative(ROOT, fileURLToPath(import.meta.url));

/** The folders whose files may cite nothing outside the repository, and the top-level documents. */
const SCANNED = ['src', 'test', 'bench', 'docs'];
const TOP_LEVEL = ['README.md'];
const TEXT = /\.(ts|js|mjs|cjs|md|html|css|json|ya?ml|toml|sh)$/;
/** Not ours to word: installed packages, and what a bench run writes (git-ignored). */
const SKIPPED_FOLDERS = new Set(['node_modules', 'results']);

function walk(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (name.startsWith('.') || SKIPPED_FOLDERS.has(name)) return [];
    if (statSync(join(ROOT, path)).isDirectory()) return walk(path);
    return TEXT.test(name) ? [path] : [];
  });
}

/** Every scanned file, by its path from the repository root; this file is left out (its patterns would find themselves). */
const files = [...SCANNED.flatMap(walk), ...TOP_LEVEL].filter((path) => path !== SELF).map((path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') }));

interface Rule {
  readonly name: string;
  readonly pattern: RegExp;
}

/**
 * What is a citation of something outside the repository, and what only looks like one:
 * - `digest` is also the hash (`hash.digest('hex')`, "pin the image by digest"): only the OB DCR
 *   digest as a document counts ("digest §3.4", "the digest's order", "OB DCR v3.3 digest").
 * - `§` follows public standards everywhere (RFC 6749 §3.3, OIDC Core §9, W3C Trace Context §3.2):
 *   only a § of an outside document counts. The OB DCR specification has no numbered sections, so
 *   "OB DCR §1.2" is the digest's numbering; a named part of the specification ("OB DCR
 *   §GET/PUT/DELETE /register/{ClientId}") is the public text and passes.
 * - A file name ending in .md must be a file of the repository, from its root or from the citing
 *   file's folder (gateway.md alone is the design note; docs/gateway.md is ours).
 * - "issue 12", "issues 8 and 9", "issue #4": the tracker is not in the repository. "issued",
 *   "issuer", "an issue" and "the directory issues 22-character ids" are words.
 * - The folder the design notes and the digest live in, by any path to it.
 */
const RULES: readonly Rule[] = [
  { name: 'the OB DCR digest', pattern: /\bdigest(?:'s)?\s+(?:§|order\b)|\bDCR(?:\s+v\d+(?:\.\d+)*)?\s+digest\b/gi },
  { name: "the digest's section numbers as the OB specification's", pattern: /\bOB DCR(?:\s+v\d+(?:\.\d+)*)?\s+§\s*\d[\d.]*/g },
  { name: 'an issue of the tracker', pattern: /\bissues?\s+#?\d+(?![\d-])/gi },
  { name: 'the folder of the design notes', pattern: /(?:\.\.\/)+shared\/|\/work\/shared\b|\bshared\/(?:design|spec)\//g },
  { name: 'a guide outside the repository', pattern: /\bDEVELOPERS(?:\.md)?\b/g },
];

/** A file name ending in .md, with the path before it and the #anchor after it. */
const MARKDOWN_REFERENCE = /(?<![\w./<>{}$-])((?:\.{1,2}\/)*[\w-][\w./-]*\.md)(?:#([\w-]+))?\b/g;

/** The file a reference names (from the repository root, else from the citing file's folder), or undefined. */
function resolveReference(from: string, reference: string): string | undefined {
  for (const base of [ROOT, join(ROOT, dirname(from))]) {
    const path = resolve(base, reference);
    if (path.startsWith(ROOT) && existsSync(path) && statSync(path).isFile()) return relative(ROOT, path);
  }
  return undefined;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of withoutCode(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const slug = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** Markdown without fenced blocks and inline code, whose text is not a heading or a link. */
function withoutCode(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

const anchorCache = new Map<string, Set<string>>();
const anchorsOfFile = (path: string) => {
  let anchors = anchorCache.get(path);
  if (!anchors) {
    anchors = anchorsOf(readFileSync(join(ROOT, path), 'utf8'));
    anchorCache.set(path, anchors);
  }
  return anchors;
};

interface Finding {
  readonly file: string;
  readonly line: number;
  readonly cites: string;
  readonly rule: string;
}

function findCitations(file: string, text: string): Finding[] {
  const out: Finding[] = [];
  const lineOf = (index: number) => text.slice(0, index).split('\n').length;
  for (const rule of RULES) {
    for (const m of text.matchAll(rule.pattern)) out.push({ file, line: lineOf(m.index), cites: m[0], rule: rule.name });
  }
  for (const m of text.matchAll(MARKDOWN_REFERENCE)) {
    if (resolveReference(file, m[1]!) === undefined) out.push({ file, line: lineOf(m.index), cites: m[1]!, rule: 'a document that is not in the repository' });
  }
  return out.sort((a, b) => a.line - b.line);
}

const findings = files.flatMap((f) => findCitations(f.path, f.text));

test('the checks tell a citation of an outside document from text that only looks like one', () => {
  const cited = (text: string) => findCitations('src/example.ts', text).map((f) => f.cites);
  // Outside: the design notes, the digest, its numbering, the tracker, the notes' folder.
  assert.deepEqual(cited('// (gateway.md §2 step 4)'), ['gateway.md']);
  assert.deepEqual(cited('// design: ../shared/design/gateway.md §1'), ['../shared/', '../shared/design/gateway.md']);
  assert.deepEqual(cited('/** OB DCR digest §3.4, in its order */'), ['DCR digest']);
  assert.deepEqual(cited('// (OB DCR v3.3 digest §3.1)'), ['DCR v3.3 digest']);
  assert.deepEqual(cited('// (digest §3.4.9)'), ['digest §']);
  assert.deepEqual(cited("checks, in the digest's order"), ["digest's order"]);
  assert.deepEqual(cited('/** OB DCR §1.2: accept application/jose */'), ['OB DCR §1.2']);
  assert.deepEqual(cited('// Issue 17: a future iat; issues 8 and 9; issue #4'), ['Issue 17', 'issues 8', 'issue #4']);
  assert.deepEqual(cited('see platform.md §4 and DEVELOPERS.md'), ['DEVELOPERS.md', 'platform.md', 'DEVELOPERS.md']);
  // Not citations: hashes, public standards, our own documents, words.
  assert.deepEqual(cited("createHash('sha256').update(x).digest('base64url'); const digest = 1; pin it by digest"), []);
  assert.deepEqual(cited('// RFC 6749 §3.3, FAPI 1.0 Advanced §8.6, OIDC Core §3.3.2.5, RFC 4514 §2.4'), []);
  assert.deepEqual(cited('// OB DCR §GET/PUT/DELETE /register/{ClientId}: 401 and revoke the token'), []);
  assert.deepEqual(cited('// docs/gateway.md#throttling, README.md, bench/README.md, docs/errors.md'), []);
  assert.deepEqual(cited('// the tokens issued, the issuer, an issue with caching, bench/results/<ISO timestamp>.md'), []);
  assert.deepEqual(cited("// today's directory issues 22-character ids"), []);
});

test('no file of src/, test/, bench/ or docs/ (nor the README) cites a document outside the repository', () => {
  assert.ok(files.length > 300, `${files.length} files read`);
  assert.deepEqual(
    findings.map((f) => `${f.file}:${f.line}: "${f.cites}" (${f.rule})`),
    [],
    'write the fact in docs/ and point there, or cite the public standard by name',
  );
});

/** The links of a markdown document: inline `[text](target)` and references `[label]: target`, outside code. */
function linksOf(markdown: string): string[] {
  const text = withoutCode(markdown);
  const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const references = [...text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]!);
  return [...inline, ...references];
}

/** Why `target`, linked from the document `from`, does not resolve; undefined when it does. */
function brokenLink(from: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined; // another site (https:, mailto:): not a file of the repository
  const [path, anchor] = target.split('#') as [string, string | undefined];
  const file = path === '' ? from : relative(ROOT, resolve(ROOT, dirname(from), decodeURIComponent(path)));
  if (file.startsWith('..') || !existsSync(join(ROOT, file))) return `${target}: no file ${file}`;
  if (anchor !== undefined && file.endsWith('.md') && !anchorsOfFile(file).has(anchor)) return `${target}: no heading #${anchor} in ${file}`;
  return undefined;
}

const documents = files.filter((f) => f.path.endsWith('.md') && (f.path.startsWith('docs/') || TOP_LEVEL.includes(f.path)));

test('every link of docs/*.md and the README to a file of the repository resolves, anchors included', () => {
  assert.ok(documents.some((d) => d.path === 'docs/architecture.md'));
  const broken = documents.flatMap((d) =>
    linksOf(d.text)
      .flatMap((target) => brokenLink(d.path, target) ?? [])
      .map((why) => `${d.path}: ${why}`),
  );
  assert.deepEqual(broken, []);
  // The check can fail: a link to nothing, and an anchor no heading has.
  assert.deepEqual(
    linksOf('[a](docs/nowhere.md) [b](#no-such-heading) `[c](in/code.md)` [d](https://example.com/x.md)').map((t) => brokenLink('README.md', t) ?? 'ok'),
    ['docs/nowhere.md: no file docs/nowhere.md', '#no-such-heading: no heading #no-such-heading in README.md', 'ok'],
  );
});

test('every docs/ reference in the code names a file of the repository, and a heading of it when it names one', () => {
  const code = files.filter((f) => !f.path.endsWith('.md'));
  const broken = code.flatMap((f) =>
    [...f.text.matchAll(/\bdocs\/[\w./-]+\.md(?:#[\w-]+)?/g)].flatMap((m) => {
      const why = brokenLink('README.md', m[0]);
      return why === undefined ? [] : [`${f.path}: ${why}`];
    }),
  );
  assert.deepEqual(broken, []);
  assert.ok(anchorsOf('## Where state lives\n### In-memory caches\n## Where state lives').has('where-state-lives-1'));
});
