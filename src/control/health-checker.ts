/**
 * Active health checking (SPEC §2 `healthCheck`): every target of a pool gets `GET path` every interval
 * (±10 % jitter so a fleet of gateways does not probe in lockstep); 2xx and 3xx pass, anything else,
 * a connect failure or the timeout fails; observeProbe applies the thresholds. State lives in the
 * TargetState objects, so a checker built after a reload over the same objects continues where the old
 * one stopped.
 */
import type { ConnectionOptions } from 'node:tls';
import { Agent, type buildConnector } from 'undici';
import type { Clock } from '../core/clock.js';
import { systemScheduler, type Scheduler, type TimerHandle } from '../core/scheduler.js';
import { durationMs } from '../core/duration.js';
import type { Random } from '../core/random.js';
import type { HealthCheckSpec } from '../spec/schema.js';
import { observeProbe } from '../upstream/health.js';
import type { TargetState } from '../upstream/target-state.js';

/** One probe of one target: resolves true when it passed. Must not reject (a rejection counts as a failure). */
export type Probe = (target: TargetState, opts: { readonly path: string; readonly timeoutMs: number }) => Promise<boolean>;

/** What createHealthChecker needs. `pool` may be any object with the two target lists. */
export interface HealthCheckerOptions {
  readonly pool: { readonly primaries: readonly TargetState[]; readonly backups: readonly TargetState[] };
  readonly spec: HealthCheckSpec;
  readonly clock: Clock;
  /** Sets the probe timers (default: real, unref'd timers). */
  readonly scheduler?: Scheduler;
  readonly random: Random;
  /** Called after a target's `healthy` flipped. */
  readonly onChange?: (target: TargetState, healthy: boolean) => void;
  /** Called after every probe, for metrics and logs. */
  readonly onProbe?: (target: TargetState, ok: boolean, durationMs: number) => void;
  /** Replaces the HTTP probe (tests). */
  readonly probe?: Probe;
  /** TLS options for https:// targets (client certificate, trust roots); ignored for http://. */
  readonly tls?: ConnectionOptions | undefined;
  /**
   * Dials the probe connections instead of `tls` (control/registries.ts: upstream mTLS with the workload
   * certificate current at dial time, h2 for h2 pools). It owns its connect timeout.
   */
  readonly connect?: buildConnector.connector | undefined;
}

/** A running health checker. */
export interface HealthChecker {
  /** Stops every timer and closes the probe connections; results still in flight are dropped. */
  close(): void;
  /**
   * Probes exactly `targets` from now on (a DNS re-resolve changed the pool): new ones get their first
   * probe within the first tenth of an interval, removed ones are no longer probed (a probe in flight
   * is dropped), the others go on as they were.
   */
  track(targets: readonly TargetState[]): void;
}

/** `healthCheck.timeout` in ms: as configured, else the smaller of 1 s and the interval (SPEC §2). */
export function probeTimeoutMs(spec: HealthCheckSpec): number {
  const interval = intervalMs(spec);
  const configured = spec.timeout === undefined ? undefined : durationMs(spec.timeout);
  return configured ?? Math.min(1000, interval);
}

function intervalMs(spec: HealthCheckSpec): number {
  return durationMs(spec.interval);
}

/** The default probe: `GET path` through `agent`; 2xx/3xx pass. The body is discarded. */
export function httpProbe(agent: Agent): Probe {
  return async (target, { path, timeoutMs }) => {
    try {
      const res = await agent.request({
        origin: target.origin,
        path,
        method: 'GET',
        headers: { 'user-agent': 'tollgate-health-check' },
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 400;
    } catch {
      return false;
    }
  };
}

/**
 * Starts probing every target of `pool` on real (unref'd) timers: the first probe within the first tenth
 * of an interval, then one interval (±10 %) after the previous probe ended, so probes of one target never
 * overlap. Owns a small undici Agent (one connection per probe, no keep-alive, so every probe proves the
 * target still accepts connections) unless `probe` is given.
 */
export function createHealthChecker(opts: HealthCheckerOptions): HealthChecker {
  const { spec, clock, random, onChange, onProbe } = opts;
  const every = intervalMs(spec);
  const timeoutMs = probeTimeoutMs(spec);
  const probeOpts = Object.freeze({ path: spec.path, timeoutMs });
  const thresholds = { healthyThreshold: spec.healthyThreshold, unhealthyThreshold: spec.unhealthyThreshold };
  const agent = opts.probe
    ? undefined
    : new Agent({ connections: 1, pipelining: 0, connect: opts.connect ?? { ...opts.tls, timeout: timeoutMs } });
  const probe = opts.probe ?? httpProbe(agent as Agent);
  const scheduler = opts.scheduler ?? systemScheduler;
  const timers = new Map<TargetState, TimerHandle>();
  let closed = false;

  const schedule = (target: TargetState, delayMs: number): void => {
    const handle: TimerHandle = scheduler.after(delayMs, () => void run(target, handle));
    timers.set(target, handle);
  };

  // `handle` is the timer that started this run: a target untracked (or tracked again) meanwhile has
  // another or none, and this run's result is dropped.
  const run = async (target: TargetState, handle: TimerHandle): Promise<void> => {
    if (closed || timers.get(target) !== handle) return;
    const start = clock.monotonic();
    let ok: boolean;
    try {
      ok = await probe(target, probeOpts);
    } catch {
      ok = false;
    }
    if (closed || timers.get(target) !== handle) return;
    const flipped = observeProbe(target, ok, thresholds);
    try {
      onProbe?.(target, ok, clock.monotonic() - start);
      if (flipped) onChange?.(target, target.healthy);
    } catch {
      // A throwing callback must neither stop this target's probe loop nor become an unhandled rejection.
    }
    schedule(target, every * (0.9 + 0.2 * random.next()));
  };

  for (const target of [...opts.pool.primaries, ...opts.pool.backups]) {
    if (!timers.has(target)) schedule(target, every * 0.1 * random.next());
  }

  return {
    track(targets: readonly TargetState[]): void {
      if (closed) return;
      const wanted = new Set(targets);
      for (const [target, timer] of timers) {
        if (wanted.has(target)) continue;
        timer.cancel();
        timers.delete(target);
      }
      for (const target of targets) if (!timers.has(target)) schedule(target, every * 0.1 * random.next());
    },
    close(): void {
      if (closed) return;
      closed = true;
      for (const timer of timers.values()) timer.cancel();
      timers.clear();
      // destroy, not close: a probe hanging on a dead target must not keep the checker alive.
      agent?.destroy().catch(() => undefined);
    },
  };
}
