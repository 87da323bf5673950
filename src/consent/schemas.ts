/**
 * Consent requests checked against the API's own definition: the request body schema of the
 * operation in the document the operator published (the official OB file), compiled once per
 * document by Ajv and kept while that document is current. Ajv's findings become OB problems
 * with the field's path (Data.Permissions[1]); they never quote the request's values.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { ConsentRefusal, type ObProblem } from './ob-errors.ts';
import type { ErrorCode } from '../errors/codes.ts';

// ajv-formats is CommonJS: its default export is the plugin.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `/Data/Permissions/1` → `Data.Permissions[1]`. */
export function obPath(instancePath: string, extra?: string): string {
  const parts = instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (extra !== undefined) parts.push(extra);
  return parts.reduce((out, p) => (/^\d+$/.test(p) ? `${out}[${p}]` : out ? `${out}.${p}` : p), '');
}

/**
 * `e` with the key under each of `maps` (instance paths of objects keyed by the client, such as
 * `/setErrs` keyed by jti) written as `*`: a problem's Path never quotes what the client sent.
 */
function masked(e: ErrorObject, maps: readonly string[]): ErrorObject {
  for (const m of maps) {
    if (e.instancePath.startsWith(`${m}/`)) {
      const rest = e.instancePath.slice(m.length + 1);
      const slash = rest.indexOf('/');
      return { ...e, instancePath: `${m}/*${slash === -1 ? '' : rest.slice(slash)}` };
    }
  }
  return e;
}

/** One Ajv finding as an OB problem. */
function problemOf(e: ErrorObject): ObProblem {
  switch (e.keyword) {
    case 'required': {
      const field = String((e.params as { missingProperty: string }).missingProperty);
      return { name: 'UK.OBIE.Field.Missing', message: `${field} is required here`, path: obPath(e.instancePath, field) };
    }
    case 'additionalProperties': {
      const field = String((e.params as { additionalProperty: string }).additionalProperty);
      // The name is the client's text: said only when it is a plain field name.
      const named = /^[A-Za-z][A-Za-z0-9]{0,63}$/.test(field);
      return {
        name: 'UK.OBIE.Field.Unexpected',
        message: named ? `${field} is not a field of this object` : 'a field this object does not define',
        ...(named ? { path: obPath(e.instancePath, field) } : { path: obPath(e.instancePath) || '$' }),
      };
    }
    case 'format':
      return {
        name: (e.params as { format: string }).format.startsWith('date') ? 'UK.OBIE.Field.InvalidDate' : 'UK.OBIE.Field.Invalid',
        message: `must be a valid ${(e.params as { format: string }).format}`,
        path: obPath(e.instancePath) || '$',
      };
    default:
      return { name: 'UK.OBIE.Field.Invalid', message: e.message ?? 'is not valid here', path: obPath(e.instancePath) || '$' };
  }
}

/** The problems of `body` against `validate`, most specific first, without repeats; `maps` as {@link masked} says. */
export function problemsOf(validate: ValidateFunction, body: unknown, maps: readonly string[] = []): ObProblem[] {
  if (validate(body)) return [];
  const seen = new Set<string>();
  const out: ObProblem[] = [];
  for (const e of validate.errors ?? []) {
    // `oneOf`/`anyOf` summaries repeat what their branches said.
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf' || e.keyword === 'if') continue;
    const p = problemOf(masked(e, maps));
    const key = `${p.name} ${p.path}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(p);
    }
  }
  return out.length > 0 ? out : [{ name: 'UK.OBIE.Field.Invalid', message: 'the request does not follow its definition', path: '$' }];
}

/**
 * A request body as JSON and the validators of the API's definition, or the refusal: `code` for a
 * body that is not JSON (an empty one is `{}` when `emptyIs` says so), CONSENT_DEFINITION_UNREADABLE
 * when the stored definition cannot be read.
 */
export async function requestAndSchemas(
  body: Buffer,
  code: ErrorCode,
  schemas: () => Promise<DocumentSchemas>,
  emptyIs?: Record<string, unknown>,
): Promise<{ body: unknown; schemas: DocumentSchemas }> {
  let parsed: unknown;
  try {
    parsed = body.length === 0 && emptyIs !== undefined ? emptyIs : JSON.parse(body.toString('utf8'));
  } catch {
    throw new ConsentRefusal(code, 'the request body is not JSON', [{ name: 'UK.OBIE.Resource.InvalidFormat', message: 'the request body is not JSON' }]);
  }
  try {
    return { body: parsed, schemas: await schemas() };
  } catch (err) {
    throw new ConsentRefusal('CONSENT_DEFINITION_UNREADABLE', "the API's definition could not be read", undefined, err);
  }
}

/** Request validators of one document, by `METHOD template`. */
export class DocumentSchemas {
  readonly #ajv: Ajv;
  readonly #doc: Json;
  readonly #validators = new Map<string, ValidateFunction | null>();

  constructor(text: string) {
    const doc: unknown = parseYaml(text, { maxAliasCount: 100 });
    if (!isObject(doc)) throw new TypeError('the API definition is not an object');
    this.#doc = doc;
    // OpenAPI 3.0 schema objects are JSON Schema (draft 4 style) plus keywords Ajv does not know
    // (nullable, example, x-…), which strict: false lets it pass over.
    this.#ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, addUsedSchema: false });
    addFormats(this.#ajv);
    this.#ajv.addSchema(doc, 'doc');
  }

  /** The validator of the operation's JSON request body, or null when it declares none. */
  requestValidator(method: string, template: string): ValidateFunction | null {
    const key = `${method} ${template}`;
    let v = this.#validators.get(key);
    if (v === undefined) {
      v = this.#compile(method.toLowerCase(), template);
      this.#validators.set(key, v);
    }
    return v;
  }

  #compile(method: string, template: string): ValidateFunction | null {
    const paths = this.#doc['paths'];
    const op = isObject(paths) && isObject(paths[template]) ? (paths[template] as Json)[method] : undefined;
    if (!isObject(op)) return null;
    let body = op['requestBody'];
    let pointer = `#/paths/${pointerSegment(template)}/${method}/requestBody`;
    // A request body kept under components (one $ref, as OpenAPI allows).
    if (isObject(body) && typeof body['$ref'] === 'string' && body['$ref'].startsWith('#/')) {
      pointer = body['$ref'];
      body = resolve(this.#doc, body['$ref']);
    }
    if (!isObject(body) || !isObject(body['content'])) return null;
    const content = body['content'] as Json;
    const type = ['application/json', 'application/json; charset=utf-8'].find((t) => isObject(content[t]) && isObject((content[t] as Json)['schema']));
    if (!type) return null;
    return this.#ajv.compile({ $ref: `doc${pointer}/content/${pointerSegment(type)}/schema` });
  }
}

const pointerSegment = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');

function resolve(doc: Json, ref: string): unknown {
  let at: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const k = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    at = isObject(at) ? at[k] : undefined;
  }
  return at;
}
