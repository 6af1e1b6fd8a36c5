/**
 * The access log: one JSON line per request, in the same shape and on the same stream as the pino
 * logger's lines, but built as one template string. pino's generic serialisation was a tenth of the
 * proxy's CPU time per request (profile in docs/design.md); this is a few string concatenations.
 */
import { pino } from 'pino';
import type { Logger } from './logger.js';
import type { Clock } from '../core/clock.js';

export interface AccessRecord {
  /** Only [A-Za-z0-9._:-] (http/request-id.ts): written without escaping. */
  readonly requestId: string;
  readonly route: string | null;
  readonly method: string;
  readonly path: string;
  readonly proto: 'h2' | 'http/1.1';
  /** The client address (http/client-address.ts); absent for lines not from the proxy pipeline. */
  readonly client?: string;
  readonly status: number;
  readonly durationMs: number;
  readonly upstream: string | null;
  readonly target: string | null;
  readonly attempts: number;
  readonly bytes: number;
  readonly code?: string;
  readonly err?: { type: string; message: string; code?: unknown } | string;
}

export type AccessLog = (r: AccessRecord) => void;

// Characters that need escaping in a JSON string. Names, ids and URLs from the config never have
// them; a client's path might, and then it takes the slow road.
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be escaped
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;
const q = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"');
const qn = (s: string | null): string => (s === null ? 'null' : q(s));
const MAX_FRAGMENTS = 10_000;

/** "000Z" … "999Z": the milliseconds and zone of an ISO time. */
const MILLIS_Z = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0') + 'Z');

/** The ISO time of `ms`: Date formats the second once, each millisecond reuses it. */
function isoTimeCache(): (ms: number) => string {
  let second = -1;
  let prefix = '';
  return (time) => {
    const ms = Math.floor(time);
    const s = Math.floor(ms / 1000);
    if (s !== second) {
      second = s;
      prefix = new Date(s * 1000).toISOString().slice(0, 20); // "2026-12-06T02:18:47."
    }
    return prefix + MILLIS_Z[ms - s * 1000];
  };
}

/**
 * Writes access records at level info (nothing when info is off) to `out`, or else to `logger`'s
 * own destination (tests hand the logger a sink).
 */
export function createAccessLog(logger: Logger, clock: Clock, out?: { write(line: string): unknown }): AccessLog {
  if (!logger.isLevelEnabled('info')) return () => undefined;
  const stream = out ?? (logger as unknown as Record<symbol, { write(s: string): unknown } | undefined>)[pino.symbols.streamSym];
  if (stream === undefined) return (r) => logger.info({ msg: 'request', ...r });
  const isoTime = isoTimeCache();
  const head = `{"level":"info","time":"`;
  // The logger's own bindings (a cluster worker's `worker` field) go on every line, as pino would.
  let bound = '';
  for (const [k, v] of Object.entries(logger.bindings())) if (k !== 'service') bound += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
  const service = `","service":"tollgate"${bound},"msg":"request","requestId":`;
  // route, upstream and target come from the config: their quoted form is made once per combination
  // (at most MAX_FRAGMENTS of them; past that, a line builds its own).
  const fragments = new Map<string | null, Map<string | null, Map<string | null, string>>>();
  let fragmentCount = 0;
  const placeOf = (r: AccessRecord): string => {
    let byUpstream = fragments.get(r.route);
    if (byUpstream === undefined) fragments.set(r.route, (byUpstream = new Map()));
    let byTarget = byUpstream.get(r.upstream);
    if (byTarget === undefined) byUpstream.set(r.upstream, (byTarget = new Map()));
    let f = byTarget.get(r.target);
    if (f === undefined) {
      f = ',"route":' + qn(r.route) + ',"upstream":' + qn(r.upstream) + ',"target":' + qn(r.target);
      if (fragmentCount < MAX_FRAGMENTS) {
        byTarget.set(r.target, f);
        fragmentCount++;
      }
    }
    return f;
  };
  return (r) => {
    let line =
      head +
      isoTime(clock.now()) +
      service +
      // Request ids are [A-Za-z0-9._:-] only (http/request-id.ts): nothing to escape.
      '"' +
      r.requestId +
      '"' +
      placeOf(r) +
      ',"method":' +
      q(r.method) +
      ',"path":' +
      q(r.path) +
      ',"proto":"' +
      r.proto +
      (r.client === undefined ? '"' : '","client":' + q(r.client)) +
      ',"status":' +
      r.status +
      ',"durationMs":' +
      r.durationMs +
      ',"attempts":' +
      r.attempts +
      ',"bytes":' +
      r.bytes;
    if (r.code !== undefined) line += ',"code":' + q(r.code);
    if (r.err !== undefined) line += ',"err":' + JSON.stringify(r.err);
    stream.write(line + '}\n');
  };
}
