/**
 * Writes the configuration reference (docs/configuration.md) from the zod schema, so the
 * documentation cannot drift from the defaults. `npm run docs:config` regenerates it; a test
 * checks the committed file is current.
 */
import { z } from 'zod';
import { configSchema } from './schema.ts';
import { ENV_OVERRIDES } from './load.ts';

interface Row {
  key: string;
  type: string;
  def: string;
  description: string;
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  anyOf?: JsonSchema[];
};

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.type === 'array') return `array of ${s.items ? typeOf(s.items) : 'values'}`;
  if (s.type === 'integer') return 'integer';
  return Array.isArray(s.type) ? s.type.join(' \\| ') : (s.type ?? 'value');
}

function walk(s: JsonSchema, prefix: string, rows: Row[], sections: Map<string, Row[]>): void {
  for (const [name, child] of Object.entries(s.properties ?? {})) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (child.type === 'object' && child.properties) {
      walk(child, key, rows, sections);
      continue;
    }
    if (child.type === 'array' && child.items?.type === 'object' && child.items.properties) {
      const sub: Row[] = [];
      walk(child.items, '', sub, sections);
      sections.set(key, sub);
      rows.push({ key, type: 'array of tables', def: JSON.stringify(child.default ?? []), description: `${child.description ?? ''} (fields below)` });
      continue;
    }
    rows.push({ key, type: typeOf(child), def: child.default === undefined ? '' : JSON.stringify(child.default), description: child.description ?? '' });
  }
}

export function configurationMarkdown(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const rows: Row[] = [];
  const sections = new Map<string, Row[]>();
  walk(schema, '', rows, sections);
  const table = (rs: Row[]) =>
    [
      '| key | type | default | description |',
      '| --- | --- | --- | --- |',
      ...rs.map((r) => `| \`${r.key}\` | ${r.type} | ${r.def ? `\`${r.def.replace(/\|/g, '\\|')}\`` : ''} | ${r.description.replace(/\|/g, '\\|')} |`),
    ].join('\n');
  const out = [
    '# Configuration reference',
    '',
    'Generated from `src/config/schema.ts` by `npm run docs:config`; do not edit by hand.',
    '',
    'One TOML file: `opendcr.toml` in the working directory, or `--config PATH`, or `OPENDCR_CONFIG`.',
    'Without a file the server runs in sandbox mode on the defaults below. Keys are `section.key`:',
    '`server.port` is `port` under `[server]`. Unknown keys, wrong types and bad TOML stop the',
    'server with exit status 2 and a message naming the file and the key.',
    '',
    table(rows),
    '',
  ];
  for (const [key, rs] of sections) {
    out.push(`## \`[[${key}]]\` fields`, '', table(rs), '');
  }
  out.push(
    '## Environment overrides',
    '',
    'Secrets and URLs can come from the environment; they win over the file.',
    '',
    '| variable | key |',
    '| --- | --- |',
    ...ENV_OVERRIDES.map(([env, path]) => `| \`${env}\` | \`${path.join('.')}\` |`),
    '| `OPENDCR_CONFIG` | path of the configuration file |',
    '',
  );
  return out.join('\n');
}

if (import.meta.main) {
  const { writeFileSync, mkdirSync } = await import('node:fs');
  mkdirSync(new URL('../../docs/', import.meta.url), { recursive: true });
  writeFileSync(new URL('../../docs/configuration.md', import.meta.url), configurationMarkdown());
}
