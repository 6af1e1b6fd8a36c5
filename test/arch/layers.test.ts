/**
 * The data path never imports the control plane (STYLE §1), and core/ imports nothing from src.
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

/** Top-level src folders that `file` imports (relative imports only). */
function importedFolders(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'(\.{1,2}\/[^']+)'/g)) {
    const target = relative(SRC, resolve(dirname(file), m[1] as string));
    if (!target.startsWith('..')) out.push(target.split('/')[0] as string);
  }
  for (const m of text.matchAll(/import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)) {
    const target = relative(SRC, resolve(dirname(file), m[1] as string));
    if (!target.startsWith('..')) out.push(target.split('/')[0] as string);
  }
  return out;
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
});
