/**
 * Batched line output to a file descriptor, for the access log. Each line is encoded once, straight
 * into a 64 KiB buffer; a full buffer (or whatever is there every `flushIntervalMs`) goes out in one
 * `fs.write`. Joining lines into one big string and writing that cost ~10 µs per line of the main
 * thread's time (`writeString` re-encodes the whole batch); encoding each line into the buffer costs
 * well under 1 µs. If the fd stops draining (a stuck stdout pipe), at most `maxBufferedBytes` wait in
 * memory; lines beyond that are dropped and counted rather than growing the heap.
 */
import { write, writeSync } from 'node:fs';

export interface LineWriter {
  /** Queues one line (with its trailing newline). */
  write(line: string): void;
  /** Lines dropped because the fd did not drain. */
  readonly dropped: number;
  /** Writes what is queued, synchronously (at exit). */
  flushSync(): void;
  /** Stops the timer and writes everything, after any write in flight (so lines stay in order). */
  end(): Promise<void>;
  /** Stops the timer and writes what is queued now, synchronously. */
  close(): void;
}

const CHUNK_BYTES = 64 * 1024;
/** A line this long (in UTF-16 units) might not fit a chunk once encoded: it gets a buffer of its own. */
const LONG_LINE = Math.floor(CHUNK_BYTES / 3);

/** Pause before writing again to a full non-blocking pipe. */
const RETRY_MS = 5;
/** How long `end()` waits for a write in flight. */
const END_WAIT_MS = 2000;

interface Batch {
  readonly buf: Buffer;
  readonly lines: number;
}

/** A batched writer on `fd` (1 = stdout). */
export function createLineWriter(fd: number, opts: { flushIntervalMs?: number; maxBufferedBytes?: number } = {}): LineWriter {
  const maxBuffered = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
  let cur: Buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  let used = 0;
  let curLines = 0;
  /** Sealed batches waiting for the fd, oldest first. */
  let queue: Batch[] = [];
  let queuedBytes = 0;
  let writing = false;
  let dropped = 0;
  /** Resolved when the write in flight (if any) is done. */
  const idle: (() => void)[] = [];
  /** Chunks the fd is done with, reused so steady logging allocates nothing. */
  const spare: Buffer[] = [];

  const seal = (): void => {
    if (used === 0) return;
    queue.push({ buf: cur.subarray(0, used), lines: curLines });
    queuedBytes += used;
    cur = spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
    used = 0;
    curLines = 0;
  };

  const recycle = (b: Batch): void => {
    if (b.buf.buffer.byteLength === CHUNK_BYTES && spare.length < 4) spare.push(Buffer.from(b.buf.buffer, b.buf.byteOffset, CHUNK_BYTES));
  };

  const kick = (): void => {
    if (writing || queue.length === 0) return;
    const batch = queue.shift() as Batch;
    writing = true;
    writeAll(batch, 0);
  };

  const writeAll = (batch: Batch, from: number): void => {
    write(fd, batch.buf, from, batch.buf.length - from, null, (err, n) => {
      if (err === null && from + n < batch.buf.length) {
        writeAll(batch, from + n); // a short write (a pipe): the rest of the same batch first
        return;
      }
      if (err !== null && err.code === 'EAGAIN') {
        // A non-blocking pipe that is full: try again shortly (the buffered bound still holds).
        setTimeout(writeAll, RETRY_MS, batch, from).unref();
        return;
      }
      if (err !== null) dropped += batch.lines;
      queuedBytes -= batch.buf.length;
      recycle(batch);
      writing = false;
      kick();
      if (!writing) for (const resolve of idle.splice(0)) resolve();
    });
  };

  const flush = (): void => {
    seal();
    kick();
  };
  const timer = setInterval(flush, opts.flushIntervalMs ?? 200);
  timer.unref();

  const flushSync = (): void => {
    seal();
    const pending = queue;
    queue = [];
    queuedBytes = 0;
    for (const b of pending) {
      try {
        let off = 0;
        while (off < b.buf.length) off += writeSync(fd, b.buf, off, b.buf.length - off);
      } catch {
        /* the fd is gone; nothing left to do at exit */
      }
    }
  };
  const onExit = (): void => flushSync();
  process.once('exit', onExit);

  return {
    write(line: string): void {
      if (queuedBytes + used > maxBuffered) {
        dropped++;
        return;
      }
      if (line.length > LONG_LINE) {
        seal();
        queue.push({ buf: Buffer.from(line, 'utf8'), lines: 1 });
        queuedBytes += Buffer.byteLength(line);
        kick();
        return;
      }
      if (used + line.length * 3 > CHUNK_BYTES) {
        seal();
        kick();
      }
      used += cur.write(line, used, 'utf8');
      curLines++;
    },
    get dropped() {
      return dropped;
    },
    flushSync,
    async end(): Promise<void> {
      clearInterval(timer);
      process.removeListener('exit', onExit);
      seal();
      kick();
      // A stuck fd (a pipe nobody reads) must not hold shutdown: wait at most END_WAIT_MS.
      if (writing) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, END_WAIT_MS);
          idle.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      if (!writing) flushSync();
    },
    close(): void {
      clearInterval(timer);
      process.removeListener('exit', onExit);
      flushSync();
    },
  };
}
