/**
 * Validates DCR response bodies against our own OpenAPI description (src/dcr/openapi.ts), with ajv's
 * JSON Schema 2020-12 validator. Test-only: ajv is a devDependency.
 */
import { AssertionError } from 'node:assert';
import ajv2020Module from 'ajv/dist/2020.js';
import ajvFormatsModule from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { dcrOpenApi } from '../../src/dcr/openapi.ts';
import type { DcrVersion } from '../../src/dcr/openapi.ts';

export type DcrOperation = 'post' | 'get' | 'put' | 'delete';

type Json = Record<string, unknown>;

// CommonJS packages: under NodeNext the default import is module.exports, whose `.default` is the export.
const Ajv2020 = ajv2020Module.default;
type Ajv2020 = InstanceType<typeof Ajv2020>;
const addFormats = ajvFormatsModule.default;

const SCHEMA_REF = /^#\/components\/schemas\/([^/]+)$/;
const RESPONSE_REF = /^#\/components\/responses\/([^/]+)$/;

/** Deep copy with `#/components/schemas/X` rewritten to `#/$defs/X`, so a schema compiles on its own. */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string') {
      const m = SCHEMA_REF.exec(v);
      if (!m) throw new Error(`unsupported $ref in a schema: ${v}`);
      out[k] = `#/$defs/${m[1]}`;
    } else {
      out[k] = rewriteRefs(v);
    }
  }
  return out;
}

/** A new Ajv2020 (strict schema/types/tuples; strictRequired off because if/then and not reference parent properties; all errors; formats) — exported for tests that compile other component schemas. */
export function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, verbose: true });
  addFormats(ajv);
  return ajv;
}

/** Compiles `#/components/schemas/<name>` of the document (with every component schema available as $defs). */
export function compileComponentSchema(doc: Json, name: string, ajv: Ajv2020 = createAjv()): ValidateFunction {
  const components = doc.components as Json;
  const all = components.schemas as Json;
  if (!(name in all)) throw new Error(`no component schema ${name}`);
  return ajv.compile({ $defs: rewriteRefs(all), $ref: `#/$defs/${name}` });
}

function formatErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map((e) => {
      const description = e.keyword === 'not' && typeof e.schema === 'object' && e.schema !== null ? (e.schema as Json).description : undefined;
      return `  ${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)} [${e.schemaPath}]${typeof description === 'string' ? ` (${description})` : ''}`;
    })
    .join('\n');
}

/**
 * Returns `(status, body, op)` that throws an AssertionError unless `body` is what our OpenAPI
 * document declares for that operation and status (the status itself must be declared). For a
 * response without content (204) the body must be undefined, null or ''.
 */
export function createResponseValidator(version: DcrVersion): (status: number, body: unknown, op: DcrOperation) => void {
  const doc = dcrOpenApi(version, 'https://example.test');
  const paths = doc.paths as Record<string, Record<string, Json>>;
  const responsesComponents = (doc.components as Json).responses as Record<string, Json>;
  const ajv = createAjv();
  const cache = new Map<string, ValidateFunction | null>();

  const pathFor = (op: DcrOperation) => (op === 'post' ? '/register' : '/register/{ClientId}');

  const compile = (op: DcrOperation, status: number): ValidateFunction | null => {
    const key = `${op} ${status}`;
    if (cache.has(key)) return cache.get(key)!;
    const operation = paths[pathFor(op)]?.[op];
    if (!operation) throw new AssertionError({ message: `${op.toUpperCase()} is not an operation of ${pathFor(op)}` });
    const declared = operation.responses as Record<string, Json>;
    let response = declared[String(status)];
    if (!response) {
      throw new AssertionError({
        message: `${op.toUpperCase()} ${pathFor(op)} does not declare status ${status} (declared: ${Object.keys(declared).join(', ')})`,
        actual: status,
        expected: Object.keys(declared),
        operator: 'openapi',
      });
    }
    if (typeof response.$ref === 'string') {
      const m = RESPONSE_REF.exec(response.$ref);
      response = m ? responsesComponents[m[1]!]! : undefined!;
      if (!response) throw new Error(`unresolvable response $ref for ${key}`);
    }
    const content = response.content as Record<string, { schema: unknown }> | undefined;
    const schema = content?.['application/json']?.schema;
    const all = (doc.components as Json).schemas as Json;
    const validate = schema === undefined ? null : ajv.compile({ $defs: rewriteRefs(all), ...(rewriteRefs(schema) as Json) });
    cache.set(key, validate);
    return validate;
  };

  return (status, body, op) => {
    const validate = compile(op, status);
    if (validate === null) {
      if (body === undefined || body === null || body === '') return;
      throw new AssertionError({
        message: `${op.toUpperCase()} ${status} (${version}) declares no body, got ${JSON.stringify(body)}`,
        actual: body,
        expected: undefined,
        operator: 'openapi',
      });
    }
    if (!validate(body)) {
      throw new AssertionError({
        message: `${op.toUpperCase()} ${status} body does not match the ${version} OpenAPI document:\n${formatErrors(validate.errors)}\nbody: ${JSON.stringify(body)}`,
        actual: body,
        expected: `schema of ${op.toUpperCase()} ${status}`,
        operator: 'openapi',
      });
    }
  };
}
