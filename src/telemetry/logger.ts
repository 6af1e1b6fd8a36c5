/** pino JSON logs to stdout, with secrets redacted wherever they could appear. */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

// Explicit paths only: wildcard paths make pino walk every logged object, and the access log is on
// the hot path. Nothing logs headers or credentials today; these are the guard rails if one ever does.
const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', 'token', 'key', 'keyPem', 'privateKey'];

/** How long a log line may wait in the buffer before it is written. */
const FLUSH_INTERVAL_MS = 200;

/**
 * stdout, written in batches: one write per 12 KiB (or every FLUSH_INTERVAL_MS) instead of one
 * syscall per access-log line. Flushed synchronously at exit.
 */
function bufferedStdout(): DestinationStream {
  const dest = pino.destination({ dest: 1, sync: false, minLength: 12 * 1024, maxWrite: 64 * 1024 });
  const timer = setInterval(() => dest.flush(), FLUSH_INTERVAL_MS);
  timer.unref();
  process.once('exit', () => {
    clearInterval(timer);
    try {
      dest.flushSync();
    } catch {
      /* stdout already gone */
    }
  });
  return dest;
}

/** The process logger. `destination` is for tests (a sink that parses lines). */
export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.TOLLGATE_LOG_LEVEL ?? 'info',
      base: { service: 'tollgate' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? bufferedStdout(),
  );
}
