/**
 * Watching certificate files so a renewed certificate is served without SIGHUP. Each file's
 * directory is watched, not the file: an atomic replace (write a temp file, rename over) and a
 * Kubernetes-style symlink swap (`..data` re-pointed) both show up as events in the directory while a
 * watch on the old inode would go quiet. Events are debounced, and the owner re-reads and compares
 * contents, so a stray event costs one read.
 */
import { realpathSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { systemScheduler, type Scheduler, type TimerHandle } from '../core/scheduler.js';

/** A running watch; `close()` stops it. */
export interface CertWatch {
  close(): void;
}

/** How long events must be quiet before `onChange` runs: a cert and its key are usually written together. */
export const CERT_WATCH_DEBOUNCE_MS = 250;

/**
 * Calls `onChange` (debounced) after anything changes in the directories of `files`. A directory that
 * cannot be watched is reported to `onError` and skipped; SIGHUP still reloads it.
 */
export function watchCertFiles(
  files: readonly string[],
  onChange: () => void,
  opts: { scheduler?: Scheduler; debounceMs?: number; onError?: (dir: string, err: unknown) => void } = {},
): CertWatch {
  const scheduler = opts.scheduler ?? systemScheduler;
  const debounceMs = opts.debounceMs ?? CERT_WATCH_DEBOUNCE_MS;
  const watchers = new Map<string, FSWatcher>();
  let timer: TimerHandle | undefined;
  let closed = false;
  // The directory as named, and the one the path resolves to now (a symlinked file edited in place);
  // the second moves with each swap, so it is worked out again after every change.
  const sync = (): void => {
    const want = new Set<string>();
    for (const f of files) {
      want.add(dirname(resolve(f)));
      try {
        want.add(dirname(realpathSync(f)));
      } catch {
        /* missing right now (mid-swap): the named directory still sees it arrive */
      }
    }
    for (const [dir, w] of watchers) {
      if (want.has(dir)) continue;
      w.close();
      watchers.delete(dir);
    }
    for (const dir of want) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, poke);
        w.on('error', (err) => {
          w.close();
          watchers.delete(dir);
          opts.onError?.(dir, err);
        });
        watchers.set(dir, w);
      } catch (err) {
        opts.onError?.(dir, err);
      }
    }
  };
  const fire = (): void => {
    timer = undefined;
    if (closed) return;
    sync();
    onChange();
  };
  function poke(): void {
    if (closed) return;
    timer?.cancel();
    timer = scheduler.after(debounceMs, fire);
  }
  sync();
  return {
    close: () => {
      closed = true;
      timer?.cancel();
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
