/**
 * `tollgate start --watch`: reload when the config file changes, as SIGHUP would.
 *
 * - The file's directory is watched, not the file (control/cert-watch.ts): an editor's atomic replace
 *   (write a temp file, rename over) and a Kubernetes ConfigMap update (the mounted directory's
 *   `..data` symlink re-pointed at a new timestamped directory) are events in the directory, while a
 *   watch on the old inode would go quiet.
 * - A stat poll (every CONFIG_WATCH_POLL_MS, following symlinks) backs fs.watch up where it is
 *   silent (network and some overlay file systems) or failed.
 * - Events are debounced (CONFIG_WATCH_DEBOUNCE_MS), then the file's bytes are compared with the
 *   last ones seen: the reload runs only when they changed. A stray event (a neighbour file such as
 *   the CA's state, an editor's swap file) costs one read; a refused file is not retried until it
 *   changes again.
 *
 * The owner (cli/commands/start.ts) calls the same reload as SIGHUP: one process's `gw.reload()`, or
 * the cluster primary's reload of every worker.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { systemScheduler, type Scheduler, type TimerHandle } from '../core/scheduler.js';
import { watchCertFiles, type CertWatch } from './cert-watch.js';

/** How long events must be quiet before the file is compared: writers that write in steps finish first. */
export const CONFIG_WATCH_DEBOUNCE_MS = 250;
/** How often the stat fallback looks at the file. */
export const CONFIG_WATCH_POLL_MS = 2000;

export interface ConfigWatch {
  /** Starts calling `onChange` after each change; a change seen before `start` is reported at once. */
  start(onChange: (why: ConfigChange) => void): void;
  close(): void;
}

/** What a change looked like, for the log line before the reload. */
export interface ConfigChange {
  /** `sha256:…` of the bytes now in the file, or `missing` when it cannot be read. */
  readonly fingerprint: string;
  /** Which mechanism noticed it first. */
  readonly via: 'fs.watch' | 'poll';
}

function fingerprintOf(path: string): string {
  try {
    return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
  } catch {
    return 'missing';
  }
}

function statKey(path: string): string {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch (err) {
    return `error:${(err as NodeJS.ErrnoException).code ?? 'unknown'}`;
  }
}

/**
 * Watches `path` (see the file comment). Create it before the gateway first reads the file, so a
 * change during start-up is not lost; `start` once the reload target exists.
 */
export function watchConfigFile(
  path: string,
  opts: { scheduler?: Scheduler; debounceMs?: number; pollMs?: number; onError?: (dir: string, err: unknown) => void } = {},
): ConfigWatch {
  const scheduler = opts.scheduler ?? systemScheduler;
  const debounceMs = opts.debounceMs ?? CONFIG_WATCH_DEBOUNCE_MS;
  const pollMs = opts.pollMs ?? CONFIG_WATCH_POLL_MS;
  let seen = fingerprintOf(path);
  let lastStat = statKey(path);
  let handler: ((why: ConfigChange) => void) | undefined;
  let pending: ConfigChange | undefined;
  let timer: TimerHandle | undefined;
  let pollTimer: TimerHandle | undefined;
  let closed = false;

  const check = (via: ConfigChange['via']): void => {
    if (closed) return;
    lastStat = statKey(path);
    const now = fingerprintOf(path);
    if (now === seen) return;
    seen = now;
    const change: ConfigChange = { fingerprint: now, via };
    if (handler === undefined) pending = change;
    else handler(change);
  };
  // fs.watch events arrive already debounced by watchCertFiles.
  const dirWatch: CertWatch = watchCertFiles([path], () => check('fs.watch'), { scheduler, debounceMs, onError: opts.onError });
  const poll = (): void => {
    if (closed) return;
    if (statKey(path) !== lastStat && timer === undefined) {
      timer = scheduler.after(debounceMs, () => {
        timer = undefined;
        check('poll');
      });
    }
    pollTimer = scheduler.after(pollMs, poll);
  };
  pollTimer = scheduler.after(pollMs, poll);

  return {
    start(onChange) {
      handler = onChange;
      if (pending !== undefined) {
        const p = pending;
        pending = undefined;
        onChange(p);
      }
    },
    close() {
      closed = true;
      dirWatch.close();
      timer?.cancel();
      pollTimer?.cancel();
    },
  };
}
