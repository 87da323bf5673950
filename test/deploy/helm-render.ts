/**
 * A renderer for a small, strict subset of Helm's template language, so the chart under
 * deploy/helm can be rendered and checked where Helm is not installed. It is test tooling, not a
 * Helm replacement: anything outside the subset throws, and where Helm would quietly render
 * something doubtful (a missing value, a number Go would print in exponent form) it throws too.
 * So it may refuse a chart Helm accepts, but should never accept one Helm renders differently.
 *
 * The subset (Go text/template + the Sprig/Helm functions the chart uses):
 * - text and `{{ pipeline }}` actions, with the `{{- ` and ` -}}` trim markers; `{{/* comments *\/}}`;
 * - `if` / `else if` / `else` / `end`, `with` / `else` / `end`, `define "name"` (top level only);
 * - operands: `.`, `$`, field chains (`.Values.a.b`, `$.Release.Name`), "strings" (\\ \" \n \t),
 *   integers, `true`, `false`, parenthesised pipelines; pipelines with `|`;
 * - functions: include, required, fail, default, quote, toYaml, toJson, nindent, indent, trunc,
 *   trimSuffix, printf (%s, %v), print (strings), sha256sum, not, and, or, eq, ne;
 * - no variables (`$x :=`), `range`, `template`, `block`, `tpl`, `.Files`, `.Capabilities`, lookup.
 *
 * Values follow Helm: values.yaml deep-merged with overrides; a field that is absent is an error
 * (as with `helm lint --strict`), even in an `if`; numbers print as Go prints a float64 only
 * below 1e6 (integers), anything else throws.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

export class RenderError extends Error {
  override readonly name = 'RenderError';
}

type Value = unknown;
type Tree = Record<string, unknown>;

const isMap = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// Lexing: text and actions

type Piece = { kind: 'text'; text: string } | { kind: 'action'; body: string; at: string };

const SPACE = /[ \t\r\n]/;

/** Splits a template into text and action bodies, applying the trim markers. */
export function splitActions(src: string, file: string): Piece[] {
  const out: Piece[] = [];
  let i = 0;
  let trimNext = false;
  const line = (pos: number) => `${file}:${src.slice(0, pos).split('\n').length}`;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    trimNext = false;
    if (open < 0) {
      if (text) out.push({ kind: 'text', text });
      break;
    }
    let j = open + 2;
    const trimLeft = src[j] === '-' && SPACE.test(src[j + 1] ?? '');
    if (trimLeft) {
      text = text.replace(/[ \t\r\n]+$/, '');
      j += 2;
    }
    if (text) out.push({ kind: 'text', text });
    // Find the closing braces outside strings and comments.
    let k = j;
    let close = -1;
    while (k < src.length) {
      const c = src[k];
      if (c === '"') {
        k++;
        while (k < src.length && src[k] !== '"') {
          if (src[k] === '\\') k++;
          if (src[k] === '\n') throw new RenderError(`${line(k)}: newline in a string`);
          k++;
        }
        k++;
      } else if (c === '`') {
        const end = src.indexOf('`', k + 1);
        if (end < 0) throw new RenderError(`${line(k)}: unterminated raw string`);
        k = end + 1;
      } else if (src.startsWith('/*', k)) {
        const end = src.indexOf('*/', k + 2);
        if (end < 0) throw new RenderError(`${line(k)}: unterminated comment`);
        k = end + 2;
      } else if (src.startsWith('}}', k)) {
        close = k;
        break;
      } else {
        k++;
      }
    }
    if (close < 0) throw new RenderError(`${line(open)}: unclosed action`);
    let body = src.slice(j, close);
    if (/[ \t\r\n]-$/.test(body)) {
      body = body.slice(0, -1);
      trimNext = true;
    }
    body = body.trim();
    if (body.startsWith('/*')) {
      if (!body.endsWith('*/')) throw new RenderError(`${line(open)}: a comment must fill its action`);
    } else {
      out.push({ kind: 'action', body, at: line(open) });
    }
    i = close + 2;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Action tokens and pipelines

type Token =
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'field'; root: 'dot' | 'root'; path: string[] }
  | { t: 'ident'; v: string }
  | { t: 'pipe' }
  | { t: 'lparen' }
  | { t: 'rparen' };

function tokenize(body: string, at: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new RenderError(`${at}: ${why} in {{ ${body} }}`);
  };
  while (i < body.length) {
    const c = body[i]!;
    if (SPACE.test(c)) {
      i++;
    } else if (c === '|') {
      out.push({ t: 'pipe' });
      i++;
    } else if (c === '(') {
      out.push({ t: 'lparen' });
      i++;
    } else if (c === ')') {
      out.push({ t: 'rparen' });
      i++;
    } else if (c === '"') {
      let s = '';
      i++;
      while (i < body.length && body[i] !== '"') {
        if (body[i] === '\\') {
          const e = body[i + 1];
          if (e === '\\' || e === '"') s += e;
          else if (e === 'n') s += '\n';
          else if (e === 't') s += '\t';
          else fail(`unsupported escape \\${e}`);
          i += 2;
        } else {
          s += body[i];
          i++;
        }
      }
      if (body[i] !== '"') fail('unterminated string');
      i++;
      out.push({ t: 'str', v: s });
    } else if (c === '`') {
      const end = body.indexOf('`', i + 1);
      out.push({ t: 'str', v: body.slice(i + 1, end) });
      i = end + 1;
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?[0-9]+(?![.\w])/.exec(body.slice(i));
      if (!m) fail('unsupported number (integers only)');
      out.push({ t: 'num', v: Number(m![0]) });
      i += m![0].length;
    } else if (c === '.' || c === '$') {
      const m = /^(\$|\.)((?:\.?[A-Za-z_][A-Za-z0-9_]*)*)/.exec(body.slice(i))!;
      const text = m[0];
      if (c === '$' && /^\$[A-Za-z_]/.test(body.slice(i))) fail('variables are not supported');
      const rest = c === '$' ? m[2]! : text;
      if (c === '$' && rest !== '' && !rest.startsWith('.')) fail('bad field');
      const path = rest === '.' ? [] : rest.split('.').filter((p, n) => n > 0 || p !== '');
      if (c === '.' && text === '.') out.push({ t: 'field', root: 'dot', path: [] });
      else out.push({ t: 'field', root: c === '$' ? 'root' : 'dot', path });
      i += text.length;
      if (body[i] === '.' || /[A-Za-z0-9_]/.test(body[i] ?? '')) fail('bad field chain');
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(body.slice(i))!;
      const word = m[0];
      i += word.length;
      if (body.startsWith(':=', i) || body.startsWith(' :=', i)) fail('variables are not supported');
      if (word === 'true' || word === 'false') out.push({ t: 'bool', v: word === 'true' });
      else if (word === 'nil') fail('nil is not supported');
      else out.push({ t: 'ident', v: word });
    } else {
      fail(`unexpected character "${c}"`);
    }
  }
  return out;
}

type Operand = { k: 'lit'; v: Value } | { k: 'field'; root: 'dot' | 'root'; path: string[] } | { k: 'sub'; pipe: Pipeline };
type Command = { fn: string | undefined; args: Operand[] };
type Pipeline = { cmds: Command[]; at: string; text: string };

function parsePipeline(tokens: Token[], at: string, text: string): Pipeline {
  let i = 0;
  const fail = (why: string): never => {
    throw new RenderError(`${at}: ${why} in {{ ${text} }}`);
  };
  const operand = (): Operand => {
    const tok = tokens[i++];
    if (!tok) return fail('missing operand');
    if (tok.t === 'str' || tok.t === 'num' || tok.t === 'bool') return { k: 'lit', v: tok.v };
    if (tok.t === 'field') return { k: 'field', root: tok.root, path: tok.path };
    if (tok.t === 'lparen') {
      const inner = pipeline(true);
      if (tokens[i]?.t !== 'rparen') fail('missing )');
      i++;
      return { k: 'sub', pipe: inner };
    }
    return fail(`unexpected ${tok.t === 'ident' ? tok.v : tok.t}`);
  };
  const command = (): Command => {
    const first = tokens[i];
    if (!first) return fail('empty command');
    if (first.t === 'ident') {
      i++;
      const args: Operand[] = [];
      while (i < tokens.length && tokens[i]!.t !== 'pipe' && tokens[i]!.t !== 'rparen') args.push(operand());
      return { fn: first.v, args };
    }
    const only = operand();
    if (i < tokens.length && tokens[i]!.t !== 'pipe' && tokens[i]!.t !== 'rparen') fail('an operand takes no arguments');
    return { fn: undefined, args: [only] };
  };
  const pipeline = (nested: boolean): Pipeline => {
    const cmds = [command()];
    while (tokens[i]?.t === 'pipe') {
      i++;
      const c = command();
      if (c.fn === undefined) fail('only a function can follow |');
      cmds.push(c);
    }
    if (!nested && i < tokens.length) fail('unexpected tokens');
    return { cmds, at, text };
  };
  return pipeline(false);
}

// ---------------------------------------------------------------------------------------------
// Template trees

type Node =
  | { n: 'text'; text: string }
  | { n: 'out'; pipe: Pipeline }
  | { n: 'if'; branches: Array<{ cond: Pipeline; body: Node[] }>; otherwise: Node[] }
  | { n: 'with'; pipe: Pipeline; body: Node[]; otherwise: Node[] };

interface Parsed {
  main: Node[];
  defines: Map<string, Node[]>;
}

export function parseTemplate(src: string, file: string): Parsed {
  const pieces = splitActions(src, file);
  const defines = new Map<string, Node[]>();
  let i = 0;
  // Parses nodes until one of `stops` (an action keyword) and returns it.
  const nodes = (stops: string[], inDefine: boolean): { body: Node[]; stop: { word: string; rest: Token[]; at: string; body: string } | undefined } => {
    const body: Node[] = [];
    while (i < pieces.length) {
      const p = pieces[i++]!;
      if (p.kind === 'text') {
        body.push({ n: 'text', text: p.text });
        continue;
      }
      const tokens = tokenize(p.body, p.at);
      const head = tokens[0];
      const word = head?.t === 'ident' ? head.v : undefined;
      const rest = tokens.slice(1);
      if (word === 'end' || word === 'else') {
        if (!stops.includes(word)) throw new RenderError(`${p.at}: unexpected {{ ${p.body} }}`);
        return { body, stop: { word, rest, at: p.at, body: p.body } };
      }
      if (word === 'if') {
        const branches: Array<{ cond: Pipeline; body: Node[] }> = [];
        let cond = parsePipeline(rest, p.at, p.body);
        let otherwise: Node[] = [];
        for (;;) {
          const r = nodes(['else', 'end'], inDefine);
          branches.push({ cond, body: r.body });
          if (!r.stop) throw new RenderError(`${p.at}: {{ if }} without {{ end }}`);
          if (r.stop.word === 'end') break;
          if (r.stop.rest.length > 0) {
            const w = r.stop.rest[0];
            if (w?.t !== 'ident' || w.v !== 'if') throw new RenderError(`${r.stop.at}: only "else if" is supported after else`);
            cond = parsePipeline(r.stop.rest.slice(1), r.stop.at, r.stop.body);
            continue;
          }
          const last = nodes(['end'], inDefine);
          if (!last.stop) throw new RenderError(`${p.at}: {{ if }} without {{ end }}`);
          otherwise = last.body;
          break;
        }
        body.push({ n: 'if', branches, otherwise });
      } else if (word === 'with') {
        const pipe = parsePipeline(rest, p.at, p.body);
        const r = nodes(['else', 'end'], inDefine);
        if (!r.stop) throw new RenderError(`${p.at}: {{ with }} without {{ end }}`);
        let otherwise: Node[] = [];
        if (r.stop.word === 'else') {
          if (r.stop.rest.length > 0) throw new RenderError(`${r.stop.at}: "else with" is not supported`);
          const last = nodes(['end'], inDefine);
          if (!last.stop) throw new RenderError(`${p.at}: {{ with }} without {{ end }}`);
          otherwise = last.body;
        }
        body.push({ n: 'with', pipe, body: r.body, otherwise });
      } else if (word === 'define') {
        if (inDefine || stops.length > 0) throw new RenderError(`${p.at}: define is supported at the top level only`);
        const name = rest[0];
        if (rest.length !== 1 || name?.t !== 'str') throw new RenderError(`${p.at}: define needs one string name`);
        if (defines.has(name.v)) throw new RenderError(`${p.at}: "${name.v}" is defined twice`);
        const r = nodes(['end'], true);
        if (!r.stop) throw new RenderError(`${p.at}: {{ define }} without {{ end }}`);
        defines.set(name.v, r.body);
      } else if (word && ['range', 'template', 'block', 'break', 'continue'].includes(word)) {
        throw new RenderError(`${p.at}: {{ ${word} }} is not supported by this renderer`);
      } else {
        body.push({ n: 'out', pipe: parsePipeline(tokens, p.at, p.body) });
      }
    }
    return { body, stop: undefined };
  };
  const main = nodes([], false).body;
  return { main, defines };
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** Go template truth: false, 0, "", nil and empty collections are false. */
export function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

/** What `{{ v }}` prints, where this renderer is sure Helm prints the same. */
function print(v: Value, where: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    // Helm's values are float64: %v prints an integer below 1e6 as digits, larger ones as 1e+06.
    if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
    throw new RenderError(`${where}: the number ${v} would print as Go prints a float64 (e.g. 1e+06); quote it in the values`);
  }
  if (v === undefined || v === null) throw new RenderError(`${where}: prints an empty value (Helm would print nothing)`);
  throw new RenderError(`${where}: prints a ${Array.isArray(v) ? 'list' : 'map'} (use toYaml or toJson)`);
}

/** Go's %q for the strings this chart quotes (printable text). */
function goQuote(s: string, where: string): string {
  if (/[\u0000-\u001f\u007f]/.test(s)) throw new RenderError(`${where}: quote of a string with control characters is not supported`);
  return `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function sortKeys(v: Value): Value {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isMap(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k])]),
    );
  return v;
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isMap(v) && isMap(out[k]) ? deepMerge(out[k] as Tree, v) : v;
  return out;
}

interface Scope {
  /** `.` */
  dot: Value;
  /** `$`: the data the template was executed with (for an include, its argument). */
  root: Value;
}

export interface Chart {
  readonly meta: Tree;
  readonly values: Tree;
  readonly files: ReadonlyMap<string, Parsed>;
  readonly defines: ReadonlyMap<string, Node[]>;
}

function evalField(op: { root: 'dot' | 'root'; path: string[] }, scope: Scope, where: string): Value {
  let cur: Value = op.root === 'root' ? scope.root : scope.dot;
  const walked: string[] = [];
  for (const key of op.path) {
    if (!isMap(cur))
      throw new RenderError(`${where}: .${[...walked, key].join('.')}: .${walked.join('.')} is ${cur === null || cur === undefined ? 'empty' : 'not a map'}`);
    if (!Object.hasOwn(cur, key)) throw new RenderError(`${where}: .${[...walked, key].join('.')} is not set (declare it in values.yaml)`);
    cur = cur[key];
    walked.push(key);
  }
  return cur;
}

function str(v: Value, fn: string, where: string): string {
  if (typeof v !== 'string') throw new RenderError(`${where}: ${fn} wants a string, got ${v === null ? 'null' : typeof v}`);
  return v;
}

function int(v: Value, fn: string, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new RenderError(`${where}: ${fn} wants an integer`);
  return v;
}

function arity(args: Value[], n: number, fn: string, where: string): void {
  if (args.length !== n) throw new RenderError(`${where}: ${fn} takes ${n} argument(s), got ${args.length}`);
}

function callFunction(chart: Chart, fn: string, args: Value[], where: string): Value {
  switch (fn) {
    case 'include': {
      arity(args, 2, fn, where);
      const name = str(args[0], fn, where);
      const body = chart.defines.get(name);
      if (!body) throw new RenderError(`${where}: no template "${name}"`);
      return renderNodes(chart, body, { dot: args[1], root: args[1] });
    }
    case 'required': {
      arity(args, 2, fn, where);
      if (args[1] === undefined || args[1] === null || args[1] === '') throw new RenderError(`${where}: ${str(args[0], fn, where)}`);
      return args[1];
    }
    case 'fail':
      arity(args, 1, fn, where);
      throw new RenderError(`${where}: ${str(args[0], fn, where)}`);
    case 'default':
      arity(args, 2, fn, where);
      return truthy(args[1]) ? args[1] : args[0];
    case 'quote':
      arity(args, 1, fn, where);
      if (typeof args[0] === 'number' || typeof args[0] === 'boolean') return goQuote(print(args[0], where), where);
      return goQuote(str(args[0], fn, where), where);
    case 'toYaml':
      arity(args, 1, fn, where);
      return stringifyYaml(sortKeys(args[0]), { lineWidth: 0 }).replace(/\n$/, '');
    case 'toJson':
      arity(args, 1, fn, where);
      // Go's encoding/json escapes <, > and & in strings.
      return JSON.stringify(sortKeys(args[0])).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
    case 'indent':
    case 'nindent': {
      arity(args, 2, fn, where);
      const pad = ' '.repeat(int(args[0], fn, where));
      const text = pad + str(args[1], fn, where).replaceAll('\n', `\n${pad}`);
      return fn === 'nindent' ? `\n${text}` : text;
    }
    case 'trunc': {
      arity(args, 2, fn, where);
      const n = int(args[0], fn, where);
      if (n < 0) throw new RenderError(`${where}: trunc with a negative length is not supported`);
      return str(args[1], fn, where).slice(0, n);
    }
    case 'trimSuffix': {
      arity(args, 2, fn, where);
      const suffix = str(args[0], fn, where);
      const s = str(args[1], fn, where);
      return suffix && s.endsWith(suffix) ? s.slice(0, -suffix.length) : s;
    }
    case 'printf': {
      const format = str(args[0], fn, where);
      let n = 1;
      const out = format.replace(/%(.)/g, (_m, verb: string) => {
        if (verb === '%') return '%';
        if (n >= args.length) throw new RenderError(`${where}: printf: too few arguments`);
        const a = args[n++];
        if (verb === 's') return str(a, 'printf %s', where);
        if (verb === 'v') return print(a, where);
        throw new RenderError(`${where}: printf %${verb} is not supported (values are float64 in Helm: %d does not print them)`);
      });
      if (n !== args.length) throw new RenderError(`${where}: printf: too many arguments`);
      return out;
    }
    case 'print':
      return args.map((a) => str(a, 'print', where)).join('');
    case 'sha256sum':
      arity(args, 1, fn, where);
      return createHash('sha256')
        .update(str(args[0], fn, where))
        .digest('hex');
    case 'not':
      arity(args, 1, fn, where);
      return !truthy(args[0]);
    case 'and': {
      if (args.length < 2) throw new RenderError(`${where}: and takes at least 2 arguments`);
      for (const a of args) if (!truthy(a)) return a;
      return args[args.length - 1];
    }
    case 'or': {
      if (args.length < 2) throw new RenderError(`${where}: or takes at least 2 arguments`);
      for (const a of args) if (truthy(a)) return a;
      return args[args.length - 1];
    }
    case 'eq':
    case 'ne': {
      if (args.length < 2 || (fn === 'ne' && args.length !== 2)) throw new RenderError(`${where}: ${fn} takes ${fn === 'ne' ? '2' : 'at least 2'} arguments`);
      const [a, ...rest] = args;
      for (const b of [a, ...rest]) {
        if (!['string', 'number', 'boolean'].includes(typeof b)) throw new RenderError(`${where}: ${fn} compares strings, numbers and booleans only`);
        if (typeof b !== typeof a) throw new RenderError(`${where}: ${fn}: incompatible types for comparison`);
      }
      const equal = rest.some((b) => b === a);
      return fn === 'eq' ? equal : !equal;
    }
    default:
      throw new RenderError(`${where}: function "${fn}" is not supported by this renderer`);
  }
}

function evalPipeline(chart: Chart, pipe: Pipeline, scope: Scope): Value {
  const where = `${pipe.at}: {{ ${pipe.text} }}`;
  let value: Value;
  let first = true;
  for (const cmd of pipe.cmds) {
    const args = cmd.args.map((a) => evalOperand(chart, a, scope, where));
    if (!first) args.push(value);
    if (cmd.fn === undefined) value = args[0];
    else value = callFunction(chart, cmd.fn, args, where);
    first = false;
  }
  return value;
}

function evalOperand(chart: Chart, op: Operand, scope: Scope, where: string): Value {
  if (op.k === 'lit') return op.v;
  if (op.k === 'field') return evalField(op, scope, where);
  return evalPipeline(chart, op.pipe, scope);
}

function renderNodes(chart: Chart, nodes: Node[], scope: Scope): string {
  let out = '';
  for (const node of nodes) {
    if (node.n === 'text') out += node.text;
    else if (node.n === 'out') out += print(evalPipeline(chart, node.pipe, scope), `${node.pipe.at}: {{ ${node.pipe.text} }}`);
    else if (node.n === 'if') {
      const branch = node.branches.find((b) => truthy(evalPipeline(chart, b.cond, scope)));
      out += renderNodes(chart, branch ? branch.body : node.otherwise, scope);
    } else {
      const v = evalPipeline(chart, node.pipe, scope);
      out += truthy(v) ? renderNodes(chart, node.body, { ...scope, dot: v }) : renderNodes(chart, node.otherwise, scope);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Charts

export interface RenderOptions {
  readonly releaseName?: string;
  readonly namespace?: string;
  /** Merged over values.yaml, as `helm template -f`. */
  readonly values?: Tree;
  /** Parse the output as YAML manifests (default); false only renders the text. */
  readonly parse?: boolean;
}

export interface RenderedChart {
  /** Rendered text of each manifest template, by file name. */
  readonly files: ReadonlyMap<string, string>;
  /** Every YAML document of every manifest, in file order; documents that are empty are left out. */
  readonly objects: Tree[];
  /** The values the templates saw. */
  readonly values: Tree;
}

/** Reads a YAML text the way both YAML 1.1 (Go's yaml.v2, as Helm and kubectl read) and YAML 1.2 read it, and fails where they differ. */
export function parseYamlStrict(text: string, what: string): unknown {
  const v12 = parseYaml(text, { version: '1.2', uniqueKeys: true, merge: true, prettyErrors: true });
  const v11 = parseYaml(text, { version: '1.1', uniqueKeys: true, merge: true, prettyErrors: true });
  if (JSON.stringify(v11) !== JSON.stringify(v12)) throw new RenderError(`${what}: reads differently as YAML 1.1 and 1.2 (octal numbers, yes/no/on/off?)`);
  return v12;
}

/** `helm template`, for this subset: every template of `dir`/templates (files starting with _ only define). */
export function renderChart(dir: string, opts: RenderOptions = {}): RenderedChart {
  const meta = parseYamlStrict(readFileSync(join(dir, 'Chart.yaml'), 'utf8'), 'Chart.yaml') as Tree;
  const base = parseYamlStrict(readFileSync(join(dir, 'values.yaml'), 'utf8'), 'values.yaml') as Tree;
  const values = deepMerge(base, opts.values ?? {});
  const files = new Map<string, Parsed>();
  const defines = new Map<string, Node[]>();
  const names = readdirSync(join(dir, 'templates')).sort();
  for (const name of names) {
    if (!/\.(ya?ml|tpl)$/.test(name)) throw new RenderError(`templates/${name}: only .yaml and .tpl templates are supported`);
    const parsed = parseTemplate(readFileSync(join(dir, 'templates', name), 'utf8'), `templates/${name}`);
    for (const [k, v] of parsed.defines) {
      if (defines.has(k)) throw new RenderError(`templates/${name}: "${k}" is defined twice`);
      defines.set(k, v);
    }
    if (!name.startsWith('_')) files.set(name, parsed);
  }
  const chart: Chart = { meta, values, files, defines };
  const root: Tree = {
    Values: values,
    Release: { Name: opts.releaseName ?? 'opendcr', Namespace: opts.namespace ?? 'default', Service: 'Helm', IsInstall: true, IsUpgrade: false, Revision: 1 },
    Chart: {
      Name: meta['name'],
      Version: meta['version'],
      AppVersion: meta['appVersion'],
      Description: meta['description'],
      Type: meta['type'],
      KubeVersion: meta['kubeVersion'],
      ApiVersion: meta['apiVersion'],
    },
    Template: { BasePath: `${String(meta['name'])}/templates` },
  };
  const rendered = new Map<string, string>();
  const objects: Tree[] = [];
  for (const [name, parsed] of files) {
    const text = renderNodes(chart, parsed.main, { dot: root, root });
    rendered.set(name, text);
    if (opts.parse === false) continue;
    for (const [n, doc] of text.split(/^---[ \t]*$/m).entries()) {
      const value = parseYamlStrict(doc, `templates/${name} (document ${n + 1})`);
      if (value === null || value === undefined) continue;
      if (!isMap(value)) throw new RenderError(`templates/${name} (document ${n + 1}) is not a map`);
      objects.push(value);
    }
  }
  return { files: rendered, objects, values };
}
