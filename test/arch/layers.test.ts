/**
 * The data path never imports the control plane (STYLE §1), and core/ imports nothing from src.
 * There are no import cycles between files, nor between folders (the bucket and quota maths live in
 * store/, so only policy -> store remains), and control/ never imports admin/ or cli/ (the
 * composition root wires the admin API to the gateway's view, runtime/view.ts).
 * Reads the sources as text, so it can't be switched off by a config change.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const DATA_PLANE = ['http', 'tls', 'identity', 'router', 'policy', 'store', 'upstream', 'proxy', 'runtime', 'server'];
const CONTROL_PLANE = ['config', 'control', 'ca', 'admin', 'cli'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.case.ts') ? [p] : [];
  });
}

/** The src files (relative to src, `.ts`) that `file` imports, type-only imports included. */
function importedFiles(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  const specs = [
    ...[...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'(\.{1,2}\/[^']+)'/g)].map((m) => m[1] as string),
    ...[...text.matchAll(/import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)].map((m) => m[1] as string),
  ];
  for (const spec of specs) {
    const target = relative(SRC, resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
    if (!target.startsWith('..')) out.push(target);
  }
  return out;
}

/** Top-level src folders that `file` imports (relative imports only). */
function importedFolders(file: string): string[] {
  return importedFiles(file).map((t) => t.split('/')[0] as string);
}

/** Every cycle of `graph` found by a depth-first walk, each as `a -> b -> a`. */
function findCycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const done = new Set<string>();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (node: string): void => {
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const at = path.indexOf(next);
      if (at >= 0) cycles.push([...path.slice(at), next].join(' -> '));
      else if (!done.has(next)) visit(next);
    }
    path.pop();
    done.add(node);
  };
  for (const node of [...graph.keys()].sort()) if (!done.has(node)) visit(node);
  return cycles;
}

describe('layers', () => {
  const files = sourceFiles(SRC);

  it('ok/the sources were found', () => {
    expect(files.length).toBeGreaterThan(40);
  });

  it('ok/data-plane folders never import the control plane', () => {
    const violations: string[] = [];
    for (const f of files) {
      const folder = relative(SRC, f).split('/')[0] as string;
      if (!DATA_PLANE.includes(folder)) continue;
      for (const target of importedFolders(f)) if (CONTROL_PLANE.includes(target)) violations.push(`${relative(SRC, f)} -> ${target}/`);
    }
    expect(violations).toEqual([]);
  });

  it('ok/core imports nothing from src but core; spec only core', () => {
    const violations: string[] = [];
    for (const f of files) {
      const folder = relative(SRC, f).split('/')[0] as string;
      const allowed = folder === 'core' ? ['core'] : folder === 'spec' ? ['core', 'spec'] : undefined;
      if (!allowed) continue;
      for (const target of importedFolders(f)) if (!allowed.includes(target)) violations.push(`${relative(SRC, f)} -> ${target}/`);
    }
    expect(violations).toEqual([]);
  });

  it('ok/the cycle finder finds a cycle', () => {
    const g = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])], ['d', new Set(['a'])]]);
    expect(findCycles(g)).toEqual(['a -> b -> c -> a']);
  });

  it('ok/no import cycle between source files', () => {
    const graph = new Map(files.map((f) => [relative(SRC, f), new Set(importedFiles(f))]));
    expect(findCycles(graph)).toEqual([]);
  });

  it('ok/no import cycle between folders (store/ never imports policy/)', () => {
    const graph = new Map<string, Set<string>>();
    for (const f of files) {
      const folder = relative(SRC, f).split('/')[0] as string;
      const edges = graph.get(folder) ?? new Set<string>();
      for (const target of importedFolders(f)) if (target !== folder) edges.add(target);
      graph.set(folder, edges);
    }
    expect(findCycles(graph)).toEqual([]);
    expect([...(graph.get('store') ?? [])]).not.toContain('policy');
  });

  it('ok/control never imports admin or cli', () => {
    const violations: string[] = [];
    for (const f of files) {
      if (relative(SRC, f).split('/')[0] !== 'control') continue;
      for (const target of importedFolders(f)) if (target === 'admin' || target === 'cli') violations.push(`${relative(SRC, f)} -> ${target}/`);
    }
    expect(violations).toEqual([]);
  });
});
