#!/usr/bin/env node
// The `tollgate` command. Runs the TypeScript sources through tsx's loader (no build step needed
// from a checkout); a built copy in dist/ is used instead when present (the Docker image).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli', 'main.js');
let entry;
if (process.env.TOLLGATE_FROM_SOURCE !== '1' && existsSync(built)) {
  entry = built;
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = join(root, 'src', 'cli', 'main.ts');
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
