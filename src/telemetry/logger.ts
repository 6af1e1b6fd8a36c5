/** pino JSON logs to stdout, with secrets redacted wherever they could appear. */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  '*.token',
  '*.key',
  '*.keyPem',
  '*.privateKey',
  'token',
];

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
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
