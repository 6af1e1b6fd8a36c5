/**
 * `limits.idleTimeout` for client connections, by a periodic sweep instead of a timer per socket.
 *
 * node's own way (`server.setTimeout`, and `keepAliveTimeout` between HTTP/1.1 requests) re-arms a
 * timer on every read and write of every socket and on every request: about 2.5 % of the gateway's
 * CPU per proxied request, measured with bench/cpu-pair.sh. The sweep instead looks at each open
 * connection a few times per idle period and closes the ones whose byte counters (bytesRead +
 * bytesWritten, which count HTTP/2 sessions' traffic too) have not moved for `idleMs`. A connection
 * is therefore closed between `idleMs` and `idleMs` + two sweep intervals after its last byte (one to
 * notice the last change, one to find the limit passed), an interval being a quarter of `idleMs` (at
 * most 1 s, at least 25 ms). Nothing runs per request.
 *
 * HTTP/2 sessions are judged by their streams, not their bytes: PING, SETTINGS and WINDOW_UPDATE
 * frames would otherwise keep a session alive forever. A session with no open stream is idle from the
 * moment its last stream closed (or it opened), whatever frames it still exchanges; a session with an
 * open stream is judged by its byte counters like an HTTP/1.1 connection (a stalled stream is idle).
 * The streams are counted by `trackStreams` (one listener per session and one `close` listener per
 * stream); the sweep skips the sockets under an h2 session (ALPN `h2`) and looks at the session.
 */
import type { Socket } from 'node:net';
import type { Http2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';

interface StreamCount {
  open: number;
  opened: number;
}

const streamCounts = new WeakMap<Http2Session, StreamCount>();

/** Counts `session`'s open streams for the idle sweep; call once when the session starts. */
export function trackStreams(session: Http2Session): void {
  const c: StreamCount = { open: 0, opened: 0 };
  streamCounts.set(session, c);
  const onClose = (): void => {
    c.open--;
  };
  session.on('stream', (stream: NodeJS.EventEmitter) => {
    c.open++;
    c.opened++;
    stream.once('close', onClose);
  });
}

export interface IdleSweep {
  /** A new idle limit (reload); 0 turns the sweep off. */
  setIdleTimeout(ms: number): void;
  /** One pass now (tests drive it with their own clock). */
  sweep(): void;
  stop(): void;
}

export interface IdleSweepOptions {
  /** Monotonic milliseconds. */
  readonly now?: () => number;
  /** false: no interval timer, the caller calls sweep() (tests). */
  readonly timer?: boolean;
  /** HTTP/2 sessions (each passed to `trackStreams`), judged by their open streams. */
  readonly sessions?: ReadonlySet<Http2Session>;
}

interface Seen {
  bytes: number;
  since: number;
}

/** Sweep period for an idle limit: a quarter of it, within [25 ms, 1 s]. */
export function sweepInterval(idleMs: number): number {
  return Math.max(25, Math.min(1000, Math.floor(idleMs / 4)));
}

export function startIdleSweep(sockets: ReadonlySet<Socket>, idleMs: number, opts: IdleSweepOptions = {}): IdleSweep {
  const now = opts.now ?? (() => performance.now());
  const useTimer = opts.timer ?? true;
  const seen = new WeakMap<object, Seen>();
  const sessions = opts.sessions;
  /** `activity` unchanged for `limit` ms: the connection is idle. */
  const idle = (key: object, activity: number, t: number): boolean => {
    const s = seen.get(key);
    if (s === undefined) seen.set(key, { bytes: activity, since: t });
    else if (s.bytes !== activity) {
      s.bytes = activity;
      s.since = t;
    } else if (t - s.since >= limit) return true;
    return false;
  };
  let limit = idleMs;
  let interval: NodeJS.Timeout | undefined;

  const sweep = (): void => {
    if (limit <= 0) return;
    const t = now();
    for (const socket of sockets) {
      if (socket.destroyed) continue;
      if (sessions !== undefined && (socket as Partial<TLSSocket>).alpnProtocol === 'h2') continue;
      if (idle(socket, socket.bytesRead + (socket.bytesWritten ?? 0), t)) socket.destroy();
    }
    if (sessions === undefined) return;
    for (const session of sessions) {
      if (session.destroyed) continue;
      const c = streamCounts.get(session);
      let activity: number;
      if (c !== undefined && c.open <= 0) activity = -1 - c.opened; // no stream: frames don't count
      else {
        const sock = session.socket as Socket | undefined;
        activity = sock === undefined ? 0 : sock.bytesRead + (sock.bytesWritten ?? 0);
      }
      if (idle(session, activity, t)) session.destroy();
    }
  };
  const arm = (): void => {
    if (interval !== undefined) clearInterval(interval);
    interval = undefined;
    if (!useTimer || limit <= 0) return;
    interval = setInterval(sweep, sweepInterval(limit));
    interval.unref();
  };
  arm();
  return {
    setIdleTimeout(ms) {
      if (ms === limit) return;
      limit = ms;
      arm();
    },
    sweep,
    stop() {
      limit = 0;
      arm();
    },
  };
}
