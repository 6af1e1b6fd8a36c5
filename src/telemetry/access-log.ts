/**
 * The access log: one JSON line per request, in the same shape and on the same stream as the pino
 * logger's lines, but built as one template string. pino's generic serialisation was a tenth of the
 * proxy's CPU time per request (profile in docs/design.md); this is a few string concatenations.
 */
import { pino } from 'pino';
import type { Logger } from './logger.js';
import type { Clock } from '../core/clock.js';
import { ACCESS_LOG_FIELDS } from '../spec/schema.js';

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
  /** Who called (telemetry/identity-tally.ts `identityKey`: SPIFFE id, `jwt:<sub>` or `anonymous`). */
  readonly identity?: string;
  /** The W3C trace id (32 hex) of the request, when it has one. */
  readonly traceId?: string;
  /** The request's host (without port, lower case). */
  readonly host?: string;
  /** The negotiated TLS version. */
  readonly tls?: string;
  readonly userAgent?: string;
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

type AccessField = (typeof ACCESS_LOG_FIELDS)[number];

/** An access log whose choice of fields (`accessLog.fields`) a reload can change. */
export interface ConfigurableAccessLog extends AccessLog {
  setFields(fields: readonly AccessField[]): void;
}

/**
 * Writes access records at level info (nothing when info is off) to `out`, or else to `logger`'s
 * own destination (tests hand the logger a sink). With every field (the default) a line is one
 * template string; a chosen subset goes field by field.
 */
export function createAccessLog(logger: Logger, clock: Clock, out?: { write(line: string): unknown }, fields: readonly AccessField[] = ACCESS_LOG_FIELDS): ConfigurableAccessLog {
  const stream = logger.isLevelEnabled('info') ? (out ?? (logger as unknown as Record<symbol, { write(s: string): unknown } | undefined>)[pino.symbols.streamSym]) : undefined;
  let write: AccessLog;
  const build = (chosen: readonly AccessField[]): AccessLog => {
    if (!logger.isLevelEnabled('info')) return () => undefined;
    if (stream === undefined) {
      const keep = new Set<string>(chosen);
      return (r) => logger.info({ msg: 'request', ...Object.fromEntries(Object.entries(r).filter(([k]) => keep.has(k))) });
    }
    return chosen.length === ACCESS_LOG_FIELDS.length && ACCESS_LOG_FIELDS.every((f) => chosen.includes(f))
      ? fullLine(logger, clock, stream)
      : chosenLine(logger, clock, stream, chosen);
  };
  write = build(fields);
  const log = ((r: AccessRecord) => write(r)) as ConfigurableAccessLog;
  log.setFields = (chosen) => {
    write = build(chosen);
  };
  return log;
}

/** `{"level":"info","time":"…","service":"tollgate"<bindings>,"msg":"request"`: every line's start. */
function lineHead(logger: Logger): { head: string; service: string } {
  // The logger's own bindings (a cluster worker's `worker` field) go on every line, as pino would.
  let bound = '';
  for (const [k, v] of Object.entries(logger.bindings())) if (k !== 'service') bound += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
  return { head: `{"level":"info","time":"`, service: `","service":"tollgate"${bound},"msg":"request"` };
}

function fullLine(logger: Logger, clock: Clock, stream: { write(s: string): unknown }): AccessLog {
  const isoTime = isoTimeCache();
  const { head } = lineHead(logger);
  const service = lineHead(logger).service + ',"requestId":';
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
  // identity, host and user agent repeat from request to request: their quoted form is kept too
  // (bounded like the fragments; a client's made-up values past that are quoted per line).
  const quoted = new Map<string, string>();
  const qc = (v: string): string => {
    let f = quoted.get(v);
    if (f === undefined) {
      f = q(v);
      if (quoted.size < MAX_FRAGMENTS) quoted.set(v, f);
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
    if (r.identity !== undefined) line += ',"identity":' + qc(r.identity);
    // Trace ids are lowercase hex and TLS versions node's own names: nothing to escape.
    if (r.traceId !== undefined) line += ',"traceId":"' + r.traceId + '"';
    if (r.host !== undefined) line += ',"host":' + qc(r.host);
    if (r.tls !== undefined) line += ',"tls":"' + r.tls + '"';
    if (r.userAgent !== undefined) line += ',"userAgent":' + qc(r.userAgent);
    stream.write(line + '}\n');
  };
}

/** One field of a line (with its leading comma), '' when the record has none. */
const FIELD: Readonly<Record<AccessField, (r: AccessRecord) => string>> = {
  requestId: (r) => ',"requestId":"' + r.requestId + '"',
  route: (r) => ',"route":' + qn(r.route),
  upstream: (r) => ',"upstream":' + qn(r.upstream),
  target: (r) => ',"target":' + qn(r.target),
  method: (r) => ',"method":' + q(r.method),
  path: (r) => ',"path":' + q(r.path),
  proto: (r) => ',"proto":"' + r.proto + '"',
  client: (r) => (r.client === undefined ? '' : ',"client":' + q(r.client)),
  status: (r) => ',"status":' + r.status,
  durationMs: (r) => ',"durationMs":' + r.durationMs,
  attempts: (r) => ',"attempts":' + r.attempts,
  bytes: (r) => ',"bytes":' + r.bytes,
  code: (r) => (r.code === undefined ? '' : ',"code":' + q(r.code)),
  err: (r) => (r.err === undefined ? '' : ',"err":' + JSON.stringify(r.err)),
  identity: (r) => (r.identity === undefined ? '' : ',"identity":' + q(r.identity)),
  traceId: (r) => (r.traceId === undefined ? '' : ',"traceId":"' + r.traceId + '"'),
  host: (r) => (r.host === undefined ? '' : ',"host":' + q(r.host)),
  tls: (r) => (r.tls === undefined ? '' : ',"tls":"' + r.tls + '"'),
  userAgent: (r) => (r.userAgent === undefined ? '' : ',"userAgent":' + q(r.userAgent)),
};

function chosenLine(logger: Logger, clock: Clock, stream: { write(s: string): unknown }, chosen: readonly AccessField[]): AccessLog {
  const isoTime = isoTimeCache();
  const { head, service } = lineHead(logger);
  // The configured order is kept; a field named twice is written once.
  const parts = [...new Set(chosen)].map((f) => FIELD[f]);
  return (r) => {
    let line = head + isoTime(clock.now()) + service;
    for (const part of parts) line += part(r);
    stream.write(line + '}\n');
  };
}
