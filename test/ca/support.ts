/** Shared helpers of the CA tests: temp dirs and openssl as the independent peer. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs openssl; resolves stdout+stderr, rejects with both on a non-zero exit. */
export async function openssl(args: string[], opts: { input?: string } = {}): Promise<string> {
  const child = run('openssl', args, { encoding: 'utf8' });
  child.child.stdin?.end(opts.input ?? '');
  const { stdout, stderr } = await child;
  return stdout + stderr;
}

/** A temp dir under os.tmpdir() and a function removing it. */
export async function tempDir(prefix = 'tollgate-ca-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Makes a P-256 key and a CSR with openssl; returns the paths. */
export async function opensslCsr(dir: string, name: string, sans: string): Promise<{ keyPath: string; csrPath: string }> {
  const keyPath = join(dir, `${name}.key`);
  const csrPath = join(dir, `${name}.csr`);
  await openssl([
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyPath, '-out', csrPath, '-subj', '/CN=x', '-addext', `subjectAltName=${sans}`,
  ]);
  return { keyPath, csrPath };
}
