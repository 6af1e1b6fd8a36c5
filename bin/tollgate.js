#!/usr/bin/env node
// The `tollgate` command. Runs the compiled dist/ (built by `npm ci` through the `prepare` script)
// when it is at least as new as every file in src/; otherwise, and with TOLLGATE_FROM_SOURCE=1, it
// runs the TypeScript sources through tsx's loader, so an edited checkout never runs stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.built');
const srcDir = join(root, 'src');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function distIsFresh() {
  if (process.env.TOLLGATE_FROM_SOURCE === '1' || !existsSync(stamp)) return false;
  // An image without src/ (the Docker one) has only dist/.
  return !existsSync(srcDir) || newestMtime(srcDir) <= statSync(stamp).mtimeMs;
}

let entry;
if (distIsFresh()) {
  entry = join(root, 'dist', 'cli', 'main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = join(root, 'src', 'cli', 'main.ts');
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
