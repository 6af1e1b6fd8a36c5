/**
 * Batched line output to a file descriptor, for the access log: lines collect in an array and go
 * out in one `fs.write` per 16 KiB (or every `flushIntervalMs`), about 1 µs per line against ~7 µs
 * through pino's SonicBoom. If the fd stops draining (a stuck stdout pipe), at most `maxBufferedBytes`
 * wait in memory; lines beyond that are dropped and counted rather than growing the heap.
 */
import { write, writeSync } from 'node:fs';

export interface LineWriter {
  /** Queues one line (with its trailing newline). */
  write(line: string): void;
  /** Lines dropped because the fd did not drain. */
  readonly dropped: number;
  /** Writes what is queued, synchronously (at exit). */
  flushSync(): void;
  close(): void;
}

const BATCH_BYTES = 16 * 1024;

/** A batched writer on `fd` (1 = stdout). */
export function createLineWriter(fd: number, opts: { flushIntervalMs?: number; maxBufferedBytes?: number } = {}): LineWriter {
  const maxBuffered = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
  let parts: string[] = [];
  let size = 0;
  let writing = false;
  let dropped = 0;

  const flush = (): void => {
    if (writing || parts.length === 0) return;
    const data = parts.join('');
    parts = [];
    size = 0;
    writing = true;
    write(fd, data, null, 'utf8', () => {
      writing = false;
      if (size >= BATCH_BYTES) flush();
    });
  };
  const timer = setInterval(flush, opts.flushIntervalMs ?? 200);
  timer.unref();
  const flushSync = (): void => {
    if (parts.length === 0) return;
    const data = parts.join('');
    parts = [];
    size = 0;
    try {
      writeSync(fd, data);
    } catch {
      /* the fd is gone; nothing left to do at exit */
    }
  };
  const onExit = (): void => flushSync();
  process.once('exit', onExit);

  return {
    write(line: string): void {
      if (size > maxBuffered) {
        dropped++;
        return;
      }
      parts.push(line);
      size += line.length;
      if (size >= BATCH_BYTES) flush();
    },
    get dropped() {
      return dropped;
    },
    flushSync,
    close(): void {
      clearInterval(timer);
      process.removeListener('exit', onExit);
      flushSync();
    },
  };
}
