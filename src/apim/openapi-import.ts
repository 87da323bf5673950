/**
 * Imports an API document (OpenAPI 3.0/3.1 or Swagger 2.0, JSON or YAML) into the gateway's
 * catalogue model (docs/gateway.md#the-catalogue): name, version, context, and each
 * operation's token flow + scopes, OB request headers and optional limit.
 *
 * A bad document is rejected whole with an ApiImportError listing its first problems, each naming
 * the JSON path it is about and quoting little of the document. Only local `#/…` references are
 * followed: the parser is configured never to read files or URLs, and a document that uses an
 * external `$ref` is rejected before the parser sees it.
 */
import { dereference, validate } from '@readme/openapi-parser';
import type { ParserOptions, ValidationResult } from '@readme/openapi-parser';
import { LineCounter, parseDocument } from 'yaml';
import { MAX_DOCUMENT_BYTES, TIME_UNIT_SECONDS } from '../storage/catalogue-records.ts';
import { SCOPE_ROLES, TPP_ROLES, type TppRole } from '../ob/roles.ts';
import { mediaEssence } from '../http/media-type.ts';
import type { ImportedApi, OperationDef, RateLimit, SecurityAlternative, TimeUnit, TokenFlow } from '../storage/catalogue-records.ts';

export { MAX_DOCUMENT_BYTES };

/** Problems an ApiImportError lists. */
const MAX_PROBLEMS = 10;
/** Longest problem sentence, and longest piece of the document quoted in one. */
const MAX_PROBLEM_CHARS = 240;
const MAX_QUOTE_CHARS = 80;
/** Deepest nesting of the document as written. */
const MAX_DEPTH = 200;
/** Most nodes the document may have once its `$ref`s are expanded (the largest OB file: ~160k). */
const MAX_EXPANDED_NODES = 1_000_000;
const YAML_MAX_ALIASES = 100;

/** Methods the gateway routes (OpenAPI's `trace` is not served). */
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;
/**
 * `/a/{id}/b`: non-empty segments, each of the characters the gateway routes (src/gateway/path.ts;
 * not `*`, which the router reads as a wildcard) and parameters `{name}` within one segment.
 */
const PATH_TEMPLATE = /^(?:\/(?:[A-Za-z0-9\-._~!$&'()+,=:@]|\{[^{}/]+\})+)+$/;
/** A segment the gateway never routes (src/gateway/path.ts). */
const DOT_SEGMENT = /(^|\/)\.{1,2}(?=\/|$)/;
/** Keys whose values are example data, not document structure (as the parser treats them). */
const DATA_KEYWORDS = new Set(['example', 'examples', 'default', 'const', 'enum']);

export class ApiImportError extends Error {
  override readonly name = 'ApiImportError';
  /** The first problems found (at most 10), each `<json path>: <what is wrong>`. */
  readonly problems: string[];

  constructor(problems: readonly string[]) {
    const listed = problems.length > 0 ? problems.slice(0, MAX_PROBLEMS) : ['document: rejected'];
    super(`invalid API document: ${listed[0]}`);
    this.problems = listed;
  }
}

export interface ImportOptions {
  /** Roles that may call the API; default: the roles of the operations' scopes (SCOPE_ROLES). */
  roles?: TppRole[];
}

type Json = Record<string, unknown>;
type Segment = string | number;
type Format = ImportedApi['format'];

/**
 * Parses, validates and reads `input` (the file's text or bytes). Returns what the catalogue keeps
 * and the document as parsed (not dereferenced; never mutated). Throws ApiImportError.
 */
export async function importOpenApi(input: string | Uint8Array, options: ImportOptions = {}): Promise<{ api: ImportedApi; document: Record<string, unknown> }> {
  const roles = options.roles === undefined ? null : checkRoles(options.roles);
  const document = parseText(decodeInput(input));
  const format = detectFormat(document);
  rejectIfAny(inspectTree(document));
  rejectIfAny(checkExpansion(document));
  rejectIfAny(await validateDocument(document));
  const resolved = await dereferenceDocument(document);
  const problems: string[] = [];
  const operations = readOperations(resolved, format, problems);
  const context = readContext(resolved, format, problems);
  rejectIfAny(problems);
  const info = resolved.info as Json;
  const api: ImportedApi = {
    name: String(info.title),
    documentVersion: String(info.version),
    format,
    context,
    operations,
    requiredRoles: roles ?? rolesOfScopes(operations),
  };
  return { api, document };
}

// ---------------------------------------------------------------------------------------------
// Problems

function rejectIfAny(problems: readonly string[]): void {
  if (problems.length > 0) throw new ApiImportError([...new Set(problems)]);
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A piece of the document, fit for a message: no control characters, clipped. */
function quote(value: unknown): string {
  const text = String(value).replace(/[\u0000-\u001f\u007f]/g, '?');
  return text.length > MAX_QUOTE_CHARS ? `${text.slice(0, MAX_QUOTE_CHARS - 1)}…` : text;
}

function clip(text: string): string {
  const flat = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return flat.length > MAX_PROBLEM_CHARS ? `${flat.slice(0, MAX_PROBLEM_CHARS - 1)}…` : flat;
}

/** `paths./accounts.get.security[0]`; the root is `document`. */
function jsonPath(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out === '' ? quote(s) : `.${quote(s)}`;
  return out === '' ? 'document' : out;
}

function problem(at: readonly Segment[], sentence: string): string {
  return clip(`${jsonPath(at)}: ${sentence}`);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Text → document

function checkRoles(roles: readonly unknown[]): TppRole[] {
  const unknown = roles.filter((r) => !TPP_ROLES.includes(r as TppRole));
  if (unknown.length > 0) {
    throw new ApiImportError(unknown.map((r) => `options.roles: unknown role ${quote(r)} (expected one of ${TPP_ROLES.join(', ')})`));
  }
  return [...new Set(roles as TppRole[])].sort();
}

function decodeInput(input: string | Uint8Array): string {
  const bytes = typeof input === 'string' ? (input.length > MAX_DOCUMENT_BYTES ? Infinity : Buffer.byteLength(input)) : input.byteLength;
  if (bytes > MAX_DOCUMENT_BYTES) {
    throw new ApiImportError([`document: larger than ${MAX_DOCUMENT_BYTES} bytes`]);
  }
  if (typeof input === 'string') return input.startsWith('\uFEFF') ? input.slice(1) : input;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    throw new ApiImportError(['document: not UTF-8 text']);
  }
}

/** JSON when the text starts with `{` and parses as JSON; YAML (a superset) otherwise. */
function parseText(text: string): Json {
  const value = text.trimStart().startsWith('{') ? (parseJson(text) ?? parseYaml(text)) : parseYaml(text);
  if (!isObject(value)) {
    throw new ApiImportError([`document: the root must be an object, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`]);
  }
  return value;
}

/** The parsed JSON, or undefined when it is not JSON (the caller then tries YAML, which says where). */
function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const duplicate = duplicateJsonKey(text);
  if (duplicate) {
    throw new ApiImportError([`document: duplicate key ${quote(duplicate.key)} at line ${duplicate.line}, column ${duplicate.column}`]);
  }
  return value;
}

/** The first key repeated within one object of `text` (valid JSON), where JSON.parse keeps the last silently. */
function duplicateJsonKey(text: string): { key: string; line: number; column: number } | null {
  const stack: Array<Set<string> | null> = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) stack.push(new Set());
    else if (c === 0x5b) stack.push(null);
    else if (c === 0x7d || c === 0x5d) stack.pop();
    else if (c === 0x22) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      const keys = stack.at(-1);
      if (!keys) continue;
      let next = i + 1;
      while (/\s/.test(text[next] ?? '')) next++;
      if (text[next] !== ':') continue;
      const raw = text.slice(start + 1, i);
      const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
      if (keys.has(key)) return { key, ...lineColumn(text, start) };
      keys.add(key);
    }
  }
  return null;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

function parseYaml(text: string): unknown {
  const lineCounter = new LineCounter();
  let doc;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  } catch (err) {
    throw new ApiImportError([clip(`document: not parseable as JSON or YAML (${messageOf(err)})`)]);
  }
  if (doc.errors.length > 0) {
    throw new ApiImportError(
      doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return clip(`document: syntax error at line ${line}, column ${col}: ${e.message}`);
      }),
    );
  }
  try {
    return doc.toJS({ maxAliasCount: YAML_MAX_ALIASES });
  } catch (err) {
    throw new ApiImportError([clip(`document: ${messageOf(err)}`)]);
  }
}

function detectFormat(doc: Json): Format {
  if ('swagger' in doc) {
    if (doc.swagger === '2.0') return 'swagger2';
    throw new ApiImportError([problem(['swagger'], `version ${quote(doc.swagger)} is not supported (expected "2.0")`)]);
  }
  if ('openapi' in doc) {
    if (typeof doc.openapi === 'string' && /^3\.[01]\.\d+(?:-[\w.]+)?$/.test(doc.openapi)) return 'openapi3';
    throw new ApiImportError([problem(['openapi'], `version ${quote(doc.openapi)} is not supported (expected 3.0.x or 3.1.x)`)]);
  }
  throw new ApiImportError(['document: not an OpenAPI 3 or Swagger 2.0 document (neither an openapi nor a swagger field)']);
}

// ---------------------------------------------------------------------------------------------
// Safety checks before the parser sees the document

/**
 * Walks the document as written: JSON data only (YAML can also make binary, dates, sets and
 * cycles), bounded depth, and local `$ref`s only.
 */
function inspectTree(doc: Json): string[] {
  const problems: string[] = [];
  const active = new Set<object>();
  const done = new Set<object>();
  const visit = (value: unknown, at: Segment[], inData: boolean): void => {
    if (problems.length >= MAX_PROBLEMS) return;
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) problems.push(problem(at, 'numbers must be finite'));
      return;
    }
    if (typeof value !== 'object') {
      problems.push(problem(at, `a ${typeof value} is not JSON data`));
      return;
    }
    if (active.has(value)) {
      problems.push(problem(at, 'a YAML alias makes the document contain itself'));
      return;
    }
    if (done.has(value)) return;
    const proto = Object.getPrototypeOf(value);
    if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) {
      problems.push(problem(at, 'not JSON data (a YAML tag such as !!binary, !!set or !!timestamp?)'));
      return;
    }
    if (at.length >= MAX_DEPTH) {
      problems.push(problem(at.slice(0, 8), `nested deeper than ${MAX_DEPTH} levels`));
      return;
    }
    active.add(value);
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        visit(v, [...at, i], inData);
      });
    } else {
      for (const [key, child] of Object.entries(value)) {
        if (key === '$ref' && !inData && typeof child === 'string' && !child.startsWith('#')) {
          problems.push(problem([...at, key], `external reference ${quote(child)} is not allowed (only local #/… references are resolved)`));
        }
        visit(child, [...at, key], inData || DATA_KEYWORDS.has(key));
      }
    }
    active.delete(value);
    done.add(value);
  };
  visit(doc, [], false);
  return problems;
}

/**
 * Refuses a document whose local `$ref`s expand into a huge tree (each reference to a schema that
 * references another twice doubles it): the validator walks the expanded tree.
 */
function checkExpansion(doc: Json): string[] {
  const sizes = new Map<object, number>();
  const active = new Set<object>();
  const size = (value: unknown): number => {
    if (value === null || typeof value !== 'object') return 1;
    const known = sizes.get(value);
    if (known !== undefined) return known;
    if (active.has(value)) return 1;
    active.add(value);
    let n = 1;
    for (const [key, child] of Object.entries(value)) {
      n += key === '$ref' && typeof child === 'string' ? 1 + size(resolvePointer(doc, child)) : size(child);
      if (n > MAX_EXPANDED_NODES) break;
    }
    active.delete(value);
    sizes.set(value, n);
    return n;
  };
  try {
    if (size(doc) <= MAX_EXPANDED_NODES) return [];
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return ['document: its $ref chains nest too deeply'];
  }
  return [`document: its $refs expand to more than ${MAX_EXPANDED_NODES} nodes`];
}

/** The value at local reference `#/a/b` (JSON pointer in a URI fragment), or undefined. */
function resolvePointer(doc: Json, ref: string): unknown {
  if (ref === '#') return doc;
  if (!ref.startsWith('#/')) return undefined;
  let current: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    let token: string;
    try {
      token = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    } catch {
      return undefined;
    }
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, token)) return undefined;
    current = (current as Json)[token];
  }
  return current;
}

// ---------------------------------------------------------------------------------------------
// The parser

type ApiDocument = Parameters<typeof dereference>[0];

/** Local references only: no file or http resolution (external `$ref`s are left alone, and refused above). */
function parserOptions(): ParserOptions {
  return { resolve: { external: false, file: false }, dereference: { circular: 'ignore' } };
}

/** The parser's schema and semantic checks, as problems. It dereferences (mutates) what it is given. */
async function validateDocument(doc: Json): Promise<string[]> {
  const copy = structuredClone(doc);
  let result: ValidationResult;
  try {
    result = await validate(copy as unknown as ApiDocument, parserOptions());
  } catch (err) {
    return [clip(`document: rejected by the OpenAPI parser: ${messageOf(err)}`)];
  }
  if (result.valid) return [];
  let linePaths: string[] | undefined;
  return result.errors.map((e) => describeParserError(e.message, () => (linePaths ??= jsonLinePaths(copy))));
}

/**
 * Schema errors come as `REQUIRED must have … \n\n <code frame of the JSON>`: keep the sentence,
 * drop the frame (it quotes the document) and name the path of the frame's marked line instead.
 * The parser's own checks are one sentence that already names where.
 */
function describeParserError(message: string, linePaths: () => string[]): string {
  const sentence = message.split('\n', 1)[0] ?? '';
  const marked = /^>\s*(\d+)\s*\|/m.exec(message);
  const path = marked ? linePaths()[Number(marked[1])] : undefined;
  if (path === undefined) return clip(sentence);
  return clip(`${path}: ${sentence.replace(/^(?:[A-Z]+ )+(?=[a-z])/, '')}`);
}

/**
 * The JSON path of each line of `JSON.stringify(value, null, 2)` (index = 1-based line), which is
 * the text the parser's code frames number.
 */
function jsonLinePaths(value: unknown): string[] {
  const lines = ['', 'document'];
  const visit = (node: unknown, path: string): void => {
    if (node === null || typeof node !== 'object') return;
    const entries = Object.entries(node);
    if (entries.length === 0) return;
    for (const [key, child] of entries) {
      const childPath = Array.isArray(node) ? `${path}[${key}]` : path === '' ? quote(key) : `${path}.${quote(key)}`;
      lines.push(childPath);
      visit(child, childPath);
    }
    lines.push(path === '' ? 'document' : path);
  };
  visit(value, '');
  return lines;
}

async function dereferenceDocument(doc: Json): Promise<Json> {
  try {
    return (await dereference(structuredClone(doc) as unknown as ApiDocument, parserOptions())) as unknown as Json;
  } catch (err) {
    throw new ApiImportError([clip(`document: rejected by the OpenAPI parser: ${messageOf(err)}`)]);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the (dereferenced) document

/** Path of `servers[0].url` (OpenAPI 3) or `basePath` (Swagger 2); null when absent or `/`. */
function readContext(doc: Json, format: Format, problems: string[]): string | null {
  if (format === 'swagger2') return typeof doc.basePath === 'string' ? normalizeContext(doc.basePath.split(/[?#]/, 1)[0] ?? '') : null;
  const server = Array.isArray(doc.servers) ? doc.servers[0] : undefined;
  if (!isObject(server) || typeof server.url !== 'string') return null;
  const url = substituteVariables(server.url, server.variables, problems);
  try {
    // Absolute (`https://host/base`) or relative (`/base`, `base`): only the path counts.
    return normalizeContext(new URL(url, 'http://context.invalid/').pathname);
  } catch {
    problems.push(problem(['servers', 0, 'url'], `${quote(url)} is not a URL`));
    return null;
  }
}

function substituteVariables(url: string, variables: unknown, problems: string[]): string {
  return url.replace(/\{([^{}]*)\}/g, (whole, name: string) => {
    const variable = isObject(variables) && Object.hasOwn(variables, name) ? variables[name] : undefined;
    if (isObject(variable) && typeof variable.default === 'string') return variable.default;
    problems.push(problem(['servers', 0, 'url'], `server variable ${quote(whole)} has no default`));
    return whole;
  });
}

function normalizeContext(path: string): string | null {
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return null;
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

function readOperations(doc: Json, format: Format, problems: string[]): OperationDef[] {
  const paths = isObject(doc.paths) ? doc.paths : {};
  const schemes = securitySchemes(doc, format);
  const routes = new Map<string, string>();
  const operations: OperationDef[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    if (!PATH_TEMPLATE.test(path) || DOT_SEGMENT.test(path)) {
      problems.push(
        problem(
          ['paths', path],
          "malformed path template (non-empty segments of letters, digits and - . _ ~ ! $ & ' ( ) + , = : @, not . or ..; each { must close with } around a parameter name within one segment)",
        ),
      );
      continue;
    }
    const shared = Array.isArray(item.parameters) ? item.parameters : [];
    for (const method of METHODS) {
      const op = item[method];
      if (!isObject(op)) continue;
      const at: Segment[] = ['paths', path, method];
      const route = `${method} ${path.replace(/\{[^}]*\}/g, '{}')}`;
      const first = routes.get(route);
      if (first === undefined) routes.set(route, path);
      else problems.push(problem(at, `same route as ${method.toUpperCase()} ${quote(first)} (paths that differ only in parameter names are one route)`));
      const parameters = [...shared, ...(Array.isArray(op.parameters) ? op.parameters : [])];
      operations.push({
        method: method.toUpperCase(),
        path,
        operationId: typeof op.operationId === 'string' ? op.operationId : null,
        security: operationSecurity(doc, op, at, schemes, format, problems),
        idempotency: declaresHeader(parameters, 'x-idempotency-key'),
        jwsSignature: declaresHeader(parameters, 'x-jws-signature'),
        limit: readLimit(op['x-throttling-limit'], [...at, 'x-throttling-limit'], problems),
        headers: declaredHeaders(parameters),
        body: requestBody(doc, op, parameters, format),
      });
    }
  }
  if (operations.length === 0 && problems.length === 0) problems.push(problem(['paths'], 'the document declares no operations'));
  return operations;
}

function securitySchemes(doc: Json, format: Format): Json {
  const found = format === 'swagger2' ? doc.securityDefinitions : isObject(doc.components) ? doc.components.securitySchemes : undefined;
  return isObject(found) ? found : {};
}

/** The header parameters an operation declares, lower case, sorted (at most 50 of at most 100 characters). */
function declaredHeaders(parameters: readonly unknown[]): string[] {
  const names = new Set<string>();
  for (const p of parameters) {
    if (isObject(p) && p.in === 'header' && typeof p.name === 'string' && /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/.test(p.name)) names.add(p.name.toLowerCase());
  }
  return [...names].sort().slice(0, 50);
}

/**
 * The request body an operation declares: OpenAPI 3 `requestBody` (its `content` media types),
 * Swagger 2 an `in: body` or `in: formData` parameter (media types from `consumes`).
 */
function requestBody(doc: Json, op: Json, parameters: readonly unknown[], format: Format): { types: string[] } | null {
  let declared: unknown[];
  if (format === 'swagger2') {
    if (!parameters.some((p) => isObject(p) && (p.in === 'body' || p.in === 'formData'))) return null;
    declared = Array.isArray(op.consumes) ? op.consumes : Array.isArray(doc.consumes) ? doc.consumes : ['application/json'];
  } else {
    if (!isObject(op.requestBody)) return null;
    declared = isObject(op.requestBody.content) ? Object.keys(op.requestBody.content) : [];
  }
  const types = new Set<string>();
  for (const t of declared) {
    const essence = typeof t === 'string' ? mediaEssence(t) : undefined;
    if (essence) types.add(essence);
  }
  return { types: [...types].sort().slice(0, 20) };
}

function declaresHeader(parameters: readonly unknown[], name: string): boolean {
  return parameters.some((p) => isObject(p) && p.in === 'header' && typeof p.name === 'string' && p.name.toLowerCase() === name);
}

/**
 * The operation's `security` (else the document's): each requirement is one alternative per
 * token flow its oauth2 scheme offers. A requirement with no token (`{}`, or only mutualTLS)
 * makes the operation open to calls without a token: empty result.
 */
function operationSecurity(doc: Json, op: Json, at: Segment[], schemes: Json, format: Format, problems: string[]): SecurityAlternative[] {
  const [requirements, where] = Array.isArray(op.security)
    ? [op.security, [...at, 'security']]
    : Array.isArray(doc.security)
      ? [doc.security, ['security']]
      : [[], []];
  const alternatives = new Map<string, SecurityAlternative>();
  let open = false;
  requirements.forEach((requirement: unknown, i: number) => {
    const found = requirementAlternatives(requirement, [...where, i], schemes, format, problems);
    if (found === 'no token') open = true;
    else for (const a of found) alternatives.set(`${a.flow} ${a.scopes.join(' ')}`, a);
  });
  return open ? [] : [...alternatives.values()];
}

function requirementAlternatives(requirement: unknown, at: Segment[], schemes: Json, format: Format, problems: string[]): SecurityAlternative[] | 'no token' {
  if (!isObject(requirement)) return [];
  const before = problems.length;
  const oauth: Array<{ name: string; flows: TokenFlow[]; scopes: string[] }> = [];
  for (const [name, scopes] of Object.entries(requirement)) {
    const scheme = Object.hasOwn(schemes, name) ? schemes[name] : undefined;
    if (!isObject(scheme)) {
      problems.push(problem(at, `unknown security scheme ${quote(name)}`));
      continue;
    }
    if (scheme.type === 'mutualTLS') continue;
    if (scheme.type !== 'oauth2') {
      problems.push(problem(at, `security scheme ${quote(name)} of type ${quote(scheme.type)} is not supported by the gateway (use oauth2)`));
      continue;
    }
    const flows = tokenFlows(scheme, format);
    if (flows.length === 0) {
      problems.push(problem(at, `security scheme ${quote(name)} has no client credentials, authorization code or implicit flow`));
      continue;
    }
    const list = Array.isArray(scopes) ? scopes.filter((s): s is string => typeof s === 'string') : [];
    oauth.push({ name, flows, scopes: [...new Set(list)].sort() });
  }
  if (problems.length > before) return [];
  if (oauth.length === 0) return 'no token';
  if (oauth.length > 1) {
    problems.push(
      problem(at, `requires tokens of several oauth2 schemes at once (${oauth.map((o) => quote(o.name)).join(', ')}); list them as separate requirements`),
    );
    return [];
  }
  const only = oauth[0]!;
  return only.flows.map((flow) => ({ flow, scopes: [...only.scopes] }));
}

/** client_credentials for OAS3 `clientCredentials` / Swagger `application`; authorization_code for code and implicit. */
function tokenFlows(scheme: Json, format: Format): TokenFlow[] {
  const names = format === 'swagger2' ? [scheme.flow] : isObject(scheme.flows) ? Object.keys(scheme.flows) : [];
  const flows: TokenFlow[] = [];
  if (names.includes(format === 'swagger2' ? 'application' : 'clientCredentials')) flows.push('client_credentials');
  const user = format === 'swagger2' ? ['accessCode', 'implicit'] : ['authorizationCode', 'implicit'];
  if (names.some((n) => user.includes(n as string))) flows.push('authorization_code');
  return flows;
}

/** `x-throttling-limit: { requestCount, unitTime?, timeUnit }`; unitTime defaults to 1. */
function readLimit(value: unknown, at: Segment[], problems: string[]): RateLimit | null {
  if (value === undefined) return null;
  const shape = 'must be { requestCount, unitTime?, timeUnit } with positive integers and timeUnit sec|min|hour|day';
  if (!isObject(value)) {
    problems.push(problem(at, shape));
    return null;
  }
  const before = problems.length;
  for (const key of Object.keys(value)) {
    if (!['requestCount', 'unitTime', 'timeUnit'].includes(key)) problems.push(problem([...at, key], `unknown field (${shape})`));
  }
  const { requestCount, unitTime = 1, timeUnit } = value;
  if (!isPositiveInteger(requestCount)) problems.push(problem([...at, 'requestCount'], 'must be a positive integer'));
  if (!isPositiveInteger(unitTime)) problems.push(problem([...at, 'unitTime'], 'must be a positive integer'));
  if (typeof timeUnit !== 'string' || !Object.hasOwn(TIME_UNIT_SECONDS, timeUnit)) {
    problems.push(problem([...at, 'timeUnit'], `must be one of ${Object.keys(TIME_UNIT_SECONDS).join(', ')}`));
  }
  if (problems.length > before) return null;
  return { requestCount: requestCount as number, unitTime: unitTime as number, timeUnit: timeUnit as TimeUnit };
}

function isPositiveInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

function rolesOfScopes(operations: readonly OperationDef[]): TppRole[] {
  const roles = new Set<TppRole>();
  for (const op of operations) {
    for (const alternative of op.security) {
      for (const scope of alternative.scopes) if (Object.hasOwn(SCOPE_ROLES, scope)) roles.add(SCOPE_ROLES[scope]!);
    }
  }
  return [...roles].sort();
}
