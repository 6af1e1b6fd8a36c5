/**
 * Durable files of the CA: atomic writes (temp + fsync + rename), private-key files that are
 * 0600 from their first byte, and a cross-process lock so the gateway (or several of its workers)
 * and the `tollgate ca …` commands can read-modify-write the same state files without losing entries.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Mode of every private-key file the CA writes. */
export const PRIVATE_MODE = 0o600;
/** Mode of certificates and state files. */
export const PUBLIC_MODE = 0o644;

/** The file operations the CA's writes go through: node's, or a test's that fails like a full disk. */
export interface StoreFs {
  open: typeof fs.open;
  rename: typeof fs.rename;
  rm: typeof fs.rm;
  link: typeof fs.link;
}
let io: StoreFs = fs;

/** Tests only: route the CA's writes through `impl` (a disk that fills up); no argument restores node:fs. */
export function setStoreFsForTests(impl?: StoreFs): void {
  io = impl ?? fs;
}

/**
 * Errno codes meaning "the state could not be stored right now" (full disk, quota, I/O error, a
 * read-only or exhausted file system) rather than a bug: the CA API answers 503 CA_UNAVAILABLE.
 */
const STORAGE_ERRNOS: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EFBIG', 'EMFILE', 'ENFILE']);

/**
 * A CA state file (or the directory lock) could not be written. Nothing was replaced: the temp file is
 * removed and the previous file stays in force. `code` is the errno, as on node's own error.
 */
export class CaStateWriteError extends Error {
  override name = 'CaStateWriteError';
  readonly code: string;
  constructor(
    readonly path: string,
    errno: string,
    cause: unknown,
  ) {
    const detail = String((cause as Error | undefined)?.message ?? cause);
    super(`CA state ${basename(path)} not written (${detail.startsWith(errno) ? detail : `${errno}: ${detail}`}); the previous file is kept and in force`, { cause });
    this.code = errno;
  }
}

/** `err` as a CaStateWriteError when it is a storage failure, else unchanged. */
function storageFailure(path: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && STORAGE_ERRNOS.has(code) && !(err instanceof CaStateWriteError) ? new CaStateWriteError(path, code, err) : err;
}

/**
 * Writes `data` to `path` so a reader sees either the old or the new content, never a mix:
 * a temp file beside it (created with `mode`), fsync, rename, then a best-effort fsync of the directory.
 * The mode is set with chmod as well because the process umask may have narrowed it.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number = PUBLIC_MODE): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: Awaited<ReturnType<typeof fs.open>>;
  try {
    fh = await io.open(tmp, 'wx', mode);
  } catch (err) {
    throw storageFailure(path, err);
  }
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
    await fh.close();
  } catch (err) {
    // A half-written temp file (ENOSPC mid-write) never replaces the old one and is not left behind.
    await fh.close().catch(() => undefined);
    await io.rm(tmp, { force: true }).catch(() => undefined);
    throw storageFailure(path, err);
  }
  try {
    await io.rename(tmp, path);
  } catch (err) {
    await io.rm(tmp, { force: true }).catch(() => undefined);
    throw storageFailure(path, err);
  }
  await syncDir(dirname(path));
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename itself durable; some platforms and file systems refuse to open directories.
  try {
    const dh = await fs.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    /* best effort */
  }
}

/** Reads and parses a JSON file; `fallback` when the file does not exist. Malformed JSON throws. */
export async function readJsonFile<T>(path: string, fallback: T): Promise<T> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw err;
  }
  return JSON.parse(text) as T;
}

/** Writes `value` as pretty JSON atomically. */
export async function writeJsonFile(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, PUBLIC_MODE);
}

/**
 * True when `path` does not exist, or is a directory holding nothing but dotfiles (such as `.gitkeep`,
 * the lock, or temp files of an interrupted write).
 */
export async function isEmptyDir(path: string): Promise<boolean> {
  try {
    const entries = await fs.readdir(path);
    return entries.every((e) => e.startsWith('.'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

const LOCK_ATTEMPTS = 400;

/**
 * Runs `fn` while holding `<dir>/.lock` (created with O_EXCL, holding our pid). A lock left by a
 * process that no longer exists is taken over. Waits up to about 10 s, then throws.
 * TODO: pid liveness cannot be judged across hosts or containers sharing the directory; such a
 * stale lock needs removing by hand.
 */
export async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  // Callers in this process queue here first, so the file lock only arbitrates between processes.
  const previous = inProcess.get(dir) ?? Promise.resolve();
  const run = previous.then(() => withFileLock(dir, fn));
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  inProcess.set(dir, tail);
  void tail.then(() => {
    if (inProcess.get(dir) === tail) inProcess.delete(dir);
  });
  return run;
}

const inProcess = new Map<string, Promise<void>>();

/** An empty or unreadable lock older than this is a crash between create and pid write (pre-atomic versions). */
export const EMPTY_LOCK_STALE_MS = 5_000;

async function withFileLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lockPath = join(dir, '.lock');
  for (let attempt = 0; ; attempt++) {
    if (await tryCreateLock(lockPath)) break;
    if (await takeOverIfStale(lockPath)) continue;
    if (attempt >= LOCK_ATTEMPTS) throw new Error(`The CA directory ${dir} stayed locked (${lockPath}); remove the lock if no tollgate process is running.`);
    await sleep(Math.min(5 + attempt, 25));
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockPath, { force: true });
  }
}

/**
 * Creates the lock with our pid in it atomically: the pid is written and synced to a temp file that
 * is then hard-linked to the lock name (fails with EEXIST when held), so the lock is never seen empty.
 */
async function tryCreateLock(lockPath: string): Promise<boolean> {
  const tmp = `${lockPath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let fh: Awaited<ReturnType<typeof fs.open>>;
  try {
    fh = await io.open(tmp, 'wx', PUBLIC_MODE);
  } catch (err) {
    throw storageFailure(lockPath, err);
  }
  try {
    await fh.writeFile(String(process.pid));
    await fh.sync();
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await io.rm(tmp, { force: true }).catch(() => undefined);
    throw storageFailure(lockPath, err);
  }
  try {
    await io.link(tmp, lockPath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw storageFailure(lockPath, err);
    return false;
  } finally {
    await io.rm(tmp, { force: true });
  }
}

/**
 * Removes the lock when it is stale: its pid is not a live process, or it is empty/garbled and older
 * than EMPTY_LOCK_STALE_MS. The stale file is first renamed aside and checked to be the same inode
 * that was judged, so a fresh lock another process took in between is put back, never deleted.
 */
async function takeOverIfStale(lockPath: string): Promise<boolean> {
  let judged: { ino: number };
  try {
    const st = await fs.stat(lockPath);
    if (!isStale(await fs.readFile(lockPath, 'utf8'), (await fsNowMs(lockPath)) - st.mtimeMs)) return false;
    judged = st;
  } catch {
    return false;
  }
  const aside = `${lockPath}.stale.${process.pid}.${randomBytes(6).toString('hex')}`;
  try {
    await fs.rename(lockPath, aside);
  } catch {
    return false;
  }
  const st = await fs.stat(aside);
  if (st.ino !== judged.ino) {
    // Someone's fresh lock: give it back (a third process may hold the name by now; then theirs wins).
    await fs.link(aside, lockPath).catch(() => undefined);
  }
  await fs.rm(aside, { force: true });
  return true;
}

/** "Now" as the file system that holds `near` stamps it (a probe file's mtime): no wall clock read here. */
async function fsNowMs(near: string): Promise<number> {
  const probe = `${near}.probe.${process.pid}.${randomBytes(6).toString('hex')}`;
  await fs.writeFile(probe, '');
  try {
    return (await fs.stat(probe)).mtimeMs;
  } finally {
    await fs.rm(probe, { force: true });
  }
}

/** Pure: is a lock with `text` whose file is `ageMs` old stale? */
export function isStale(text: string, ageMs: number, alive: (pid: number) => boolean = pidAlive): boolean {
  const trimmed = text.trim();
  const pid = /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isInteger(pid) || pid <= 0) return ageMs > EMPTY_LOCK_STALE_MS;
  if (pid === process.pid) return false;
  return !alive(pid);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
