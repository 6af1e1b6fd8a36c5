/**
 * `npm run docs:config`: writes the key reference of docs/config.md from the zod schema (src/spec/schema.ts):
 * every key path with its type, default, allowed values and description. Only the text between
 * `<!-- generated:start -->` and `<!-- generated:end -->` is replaced; the prose around it is kept.
 * Descriptions come from `.describe()`/`.meta({ description })` on the schema when present, else from
 * scripts/config-descriptions.ts (kept apart so schema.ts stays free of prose while keys are added concurrently).
 * `--check`: exit 1 when docs/config.md is stale, without writing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GatewaySpec } from '../src/spec/schema.js';
import { DESCRIPTIONS } from './config-descriptions.js';

export const START = '<!-- generated:start -->';
export const END = '<!-- generated:end -->';
export const DOC_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'config.md');

/** One row of the reference. */
export interface KeyRow {
  readonly path: string;
  readonly type: string;
  /** `required`, `—` (absent) or the default value. */
  readonly default: string;
  readonly description: string | undefined;
}

// The zod 4 internals we read: `_zod.def` with `type`, `innerType`, `shape`, `element`, `valueType`, `options`, `entries`, `checks`.
interface Def {
  type: string;
  innerType?: Schema;
  shape?: Record<string, Schema>;
  element?: Schema;
  valueType?: Schema;
  options?: Schema[];
  entries?: Record<string, string>;
  values?: unknown[];
  checks?: { _zod: { def: Record<string, unknown> } }[];
  defaultValue?: unknown;
  in?: Schema;
}
interface Schema {
  _zod: { def: Def };
  description?: string;
  meta?: () => { description?: string } | undefined;
}

const def = (s: Schema): Def => s._zod.def;

function descriptionOf(s: Schema): string | undefined {
  return s.description ?? s.meta?.()?.description;
}

function checkMessages(s: Schema): string[] {
  const out: string[] = [];
  for (const c of def(s).checks ?? []) {
    const d = c._zod.def;
    if (typeof d.error === 'function') {
      const m = (d.error as (i: unknown) => unknown)({});
      if (typeof m === 'string') out.push(m);
    }
  }
  return out;
}

function numberType(s: Schema): string {
  let int = false;
  let min: string | undefined;
  let max: string | undefined;
  for (const c of def(s).checks ?? []) {
    const d = c._zod.def;
    if (d.check === 'number_format' && String(d.format).includes('int')) int = true;
    if (d.check === 'greater_than') min = `${d.inclusive ? '≥' : '>'} ${String(d.value)}`;
    if (d.check === 'less_than') max = `${d.inclusive ? '≤' : '<'} ${String(d.value)}`;
  }
  const range = [min, max].filter((x) => x !== undefined).join(', ');
  return `${int ? 'integer' : 'number'}${range ? ` (${range})` : ''}`;
}

/** A short type for a leaf schema: `duration`, `integer (≥ 1)`, `"a" \| "b"`, `string[]`, … */
export function typeOf(s: Schema): string {
  const d = def(s);
  switch (d.type) {
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
      return typeOf(d.innerType as Schema);
    case 'pipe':
      return typeOf(d.in as Schema);
    case 'string': {
      const msgs = checkMessages(s);
      if (msgs.some((m) => /duration greater than zero/.test(m))) return 'duration (> 0)';
      if (msgs.some((m) => /duration/.test(m))) return 'duration';
      const fmt = msgs.find((m) => m.startsWith('expected '));
      return fmt ? `string (${fmt.slice('expected '.length)})` : 'string';
    }
    case 'number':
      return numberType(s);
    case 'boolean':
      return 'boolean';
    case 'enum':
      return Object.values(d.entries ?? {}).map((v) => `\`${v}\``).join(' \\| ');
    case 'literal':
      return (d.values ?? []).map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
    case 'union':
      return (d.options ?? []).map(typeOf).join(' or ');
    case 'array':
      return `list of ${typeOf(d.element as Schema)}`;
    case 'record':
      return `map of ${typeOf(d.valueType as Schema)}`;
    case 'object':
      return 'mapping';
    default:
      return d.type;
  }
}

function formatDefault(v: unknown): string {
  if (typeof v === 'string') return `\`${v}\``;
  if (Array.isArray(v)) return v.length === 0 ? '`[]`' : `\`[${v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ')}]\``;
  if (typeof v === 'object' && v !== null && Object.keys(v).length === 0) return '`{}`';
  return `\`${JSON.stringify(v)}\``;
}

/** Unwraps optional/default/prefault; returns the inner schema and the default column. */
function unwrap(s: Schema): { inner: Schema; dflt: string } {
  let cur = s;
  let dflt = 'required';
  for (;;) {
    const d = def(cur);
    if (d.type === 'optional') {
      if (dflt === 'required') dflt = '—';
    } else if (d.type === 'default') {
      dflt = formatDefault(d.defaultValue);
    } else if (d.type === 'prefault') {
      dflt = 'see below';
    } else break;
    cur = d.innerType as Schema;
  }
  return { inner: cur, dflt };
}

/** Every key of the schema, depth first in schema order. Objects are rows too; their keys follow. */
export function collectRows(schema: Schema = GatewaySpec as unknown as Schema, prefix = ''): KeyRow[] {
  const rows: KeyRow[] = [];
  const shape = def(schema).shape ?? {};
  for (const [key, child] of Object.entries(shape)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const { inner, dflt } = unwrap(child);
    const d = def(inner);
    const described = descriptionOf(child) ?? descriptionOf(inner);
    const description = described ?? DESCRIPTIONS[path] ?? DESCRIPTIONS[`${path}[]`] ?? DESCRIPTIONS[`${path}.<name>`];
    if (d.type === 'object') {
      rows.push({ path, type: 'mapping', default: dflt === 'see below' ? '(defaults below)' : dflt, description });
      rows.push(...collectRows(inner, path));
    } else if (d.type === 'array' && def(unwrap(d.element as Schema).inner).type === 'object') {
      rows.push({ path: `${path}[]`, type: 'list of mappings', default: dflt, description });
      rows.push(...collectRows(unwrap(d.element as Schema).inner, `${path}[]`));
    } else if (d.type === 'record' && def(unwrap(d.valueType as Schema).inner).type === 'object') {
      rows.push({ path: `${path}.<name>`, type: 'map of mappings', default: dflt, description });
      rows.push(...collectRows(unwrap(d.valueType as Schema).inner, `${path}.<name>`));
    } else {
      rows.push({ path, type: typeOf(inner), default: dflt, description });
    }
  }
  return rows;
}

const cell = (s: string): string => s.replace(/\|/g, (m, i: number, all: string) => (all[i - 1] === '\\' ? m : '\\|')).replace(/\n/g, ' ');

/** The generated block (between the markers), grouped by top-level key. */
export function renderReference(rows: readonly KeyRow[] = collectRows()): string {
  const groups = new Map<string, KeyRow[]>([['', []]]);
  for (const r of rows) {
    const top = r.path.split(/[.[]/)[0] ?? r.path;
    const isGroup = rows.some((o) => o.path.startsWith(`${top}.`) || o.path.startsWith(`${top}[]`));
    const g = isGroup ? top : '';
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)?.push(r);
  }
  const out: string[] = ['<!-- Written by `npm run docs:config` from src/spec/schema.ts and scripts/config-descriptions.ts; do not edit by hand. -->', ''];
  for (const [g, list] of groups) {
    if (list.length === 0) continue;
    out.push(g === '' ? '### Top level' : `### \`${g}\``, '', '| key | type | default | meaning |', '| --- | --- | --- | --- |');
    for (const r of list) out.push(`| \`${r.path}\` | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.description ?? '')} |`);
    out.push('');
  }
  return out.join('\n');
}

/** `doc` with the text between the markers replaced by `reference`. */
export function spliceReference(doc: string, reference: string): string {
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`docs/config.md: markers ${START} / ${END} not found`);
  return `${doc.slice(0, a + START.length)}\n${reference}\n${doc.slice(b)}`;
}

/** Keys with no description anywhere. */
export function undocumentedKeys(rows: readonly KeyRow[] = collectRows()): string[] {
  return rows.filter((r) => r.description === undefined || r.description === '').map((r) => r.path);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const current = readFileSync(DOC_PATH, 'utf8');
  const next = spliceReference(current, renderReference());
  const missing = undocumentedKeys();
  if (missing.length > 0) process.stderr.write(`docs:config: keys without a description (add them to scripts/config-descriptions.ts): ${missing.join(', ')}\n`);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      process.stderr.write('docs/config.md is stale: run npm run docs:config\n');
      process.exitCode = 1;
    }
  } else if (next !== current) {
    writeFileSync(DOC_PATH, next);
    process.stdout.write('docs/config.md: key reference updated\n');
  } else process.stdout.write('docs/config.md: up to date\n');
}
