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
 */
import type { Socket } from 'node:net';

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
  const seen = new WeakMap<Socket, Seen>();
  let limit = idleMs;
  let interval: NodeJS.Timeout | undefined;

  const sweep = (): void => {
    if (limit <= 0) return;
    const t = now();
    for (const socket of sockets) {
      if (socket.destroyed) continue;
      const bytes = socket.bytesRead + (socket.bytesWritten ?? 0);
      const s = seen.get(socket);
      if (s === undefined) seen.set(socket, { bytes, since: t });
      else if (s.bytes !== bytes) {
        s.bytes = bytes;
        s.since = t;
      } else if (t - s.since >= limit) socket.destroy();
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
