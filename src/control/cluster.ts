/**
 * `workers: auto | N` (SPEC §2): a node:cluster group of N gateway processes behind one port.
 *
 * The primary runs no gateway. It validates the config, makes sure the CA exists (so N workers do
 * not race to create it), serves the one memory counter store every worker counts in
 * (store/cluster-store.ts, so limits hold across the group), forks the workers and supervises them:
 *
 * - listening: every worker listens on `listen` (and `redirectHttp`); node:cluster shares each
 *   port and hands new connections to the workers in turn (round-robin).
 * - admin: exactly one process can own `admin.port`, and it has to be a worker (the admin API
 *   reports a gateway). Worker 0 binds it; its `POST /reload` asks the primary to reload every
 *   worker. Its /metrics and /status cover the group: the primary asks every worker for a report
 *   (its registry as JSON, its /status) and worker 0 sums them (admin/cluster-report.ts).
 * - `start --watch`: the primary watches the config file (control/config-watch.ts) and reloads every
 *   worker on a change, exactly as on SIGHUP.
 * - runtime overrides set on worker 0 (drain, forced health or tier) go to the primary, which passes them to every
 *   other worker and to any worker that (re)starts.
 * - SIGHUP to the primary: every worker reloads (IPC message, each runs `gw.reload()`); the
 *   results are logged together. Workers ignore SIGHUP themselves (a terminal hang-up reaches the
 *   whole process group, and the primary already forwards it).
 * - SIGTERM/SIGINT to the primary: every worker drains (up to `shutdown.drainTimeout`) and exits;
 *   then the primary exits 0. A worker that is still alive 10 s after the drain timeout is killed
 *   and the primary exits 1.
 * - a worker that dies after start-up is replaced (same index, so the admin port comes back); more
 *   than MAX_RESTARTS within RESTART_WINDOW_MS stops the group with exit 1. A worker that dies
 *   during start-up (bad port, unreadable file) stops the group at once with exit 1.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { systemClock, type Clock } from '../core/clock.js';
import { durationMs } from '../core/duration.js';
import { ensureCaAuthority } from '../ca/authority.js';
import type { GatewaySpec } from '../spec/schema.js';
import { createClusterWorkerStore, serveClusterStore } from '../store/cluster-store.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Logger } from '../telemetry/logger.js';
import { startGateway, type Gateway, type ReloadResult } from './lifecycle.js';
import type { ClusterView, ReportWorker, ServeAdmin, WorkerReport } from '../runtime/view.js';
import type { ConfigWatch } from './config-watch.js';
import type { OverrideRecord } from '../runtime/overrides.js';

const INDEX_ENV = 'TOLLGATE_WORKER_INDEX';
const COUNT_ENV = 'TOLLGATE_WORKERS';
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
const STOP_GRACE_MS = 10_000;
const RELOAD_TIMEOUT_MS = 60_000;
/** How long a cluster scrape waits for the workers' reports; a worker that misses it is listed as missing. */
const GATHER_TIMEOUT_MS = 5_000;

/** Messages between the primary and its workers (besides the cluster store's own). */
type ToPrimary =
  | { t: 'tollgate:ready'; index: number; publicPort: number; adminPort: number }
  | { t: 'tollgate:reload-all'; id: number }
  | { t: 'tollgate:reloaded'; id: number; result: ReloadResult }
  | { t: 'tollgate:gather'; id: number }
  | { t: 'tollgate:report:done'; id: number; report: WorkerReport | null }
  | { t: 'tollgate:overrides'; records: readonly OverrideRecord[] };
type ToWorker =
  | { t: 'tollgate:reload'; id: number }
  | { t: 'tollgate:reload-all:done'; id: number; result: ReloadResult }
  | { t: 'tollgate:report'; id: number }
  | { t: 'tollgate:gather:done'; id: number; reports: WorkerReport[]; missing: number[] }
  | { t: 'tollgate:shutdown' }
  | { t: 'tollgate:overrides:apply'; records: readonly OverrideRecord[] };

function isMessage<T extends { t: string }>(msg: unknown): msg is T {
  return typeof msg === 'object' && msg !== null && typeof (msg as { t?: unknown }).t === 'string' && (msg as { t: string }).t.startsWith('tollgate:');
}

/** How many workers `workers` means: `auto` is one per available core. */
export function resolveWorkers(workers: GatewaySpec['workers']): number {
  return workers === 'auto' ? Math.max(1, availableParallelism()) : workers;
}

/** True in a process forked by `runClusterPrimary`. */
export function isClusterWorker(): boolean {
  return cluster.isWorker && process.env[INDEX_ENV] !== undefined;
}

/** Options of `runClusterPrimary`. */
export interface ClusterPrimaryOptions {
  readonly spec: GatewaySpec;
  readonly workers: number;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** `start --watch`: a change of the config file reloads every worker, as SIGHUP does. */
  readonly watch?: ConfigWatch;
}

interface Slot {
  index: number;
  worker: Worker;
  ready: boolean;
}

/**
 * Runs the primary of a `workers > 1` group until SIGTERM/SIGINT (resolves 0) or a failure
 * (resolves 1). The workers re-run this process's command line (`tollgate start …`).
 */
export async function runClusterPrimary(opts: ClusterPrimaryOptions): Promise<number> {
  const { spec, workers, logger } = opts;
  const clock = opts.clock ?? systemClock;
  await ensureCaAuthority(spec.ca.dir, spec.ca.trustDomain, clock);
  // The same bounded per-limit tables as one process; buckets on the primary's monotonic clock.
  const storeServer = serveClusterStore({
    store: new MemoryStore({ maxKeysPerLimit: spec.store.memory.maxKeysPerLimit, clock }),
  });
  const slots = new Map<number, Slot>();
  const restarts: number[] = [];
  let stopping = false;
  let reloadSeq = 0;
  const pendingReloads = new Map<number, { results: ReloadResult[]; expected: number; done: (r: ReloadResult[]) => void }>();
  let gatherSeq = 0;
  const pendingGathers = new Map<number, { reports: WorkerReport[]; asked: Set<number>; done: () => void }>();
  let settle: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (settle = resolve));
  let failed = false;
  let readyAnnounced = false;
  // The admin worker's runtime overrides: every worker applies them, one that (re)starts gets them at ready.
  let overrides: readonly OverrideRecord[] = [];

  const send = (w: Worker, msg: ToWorker): void => {
    if (w.isConnected()) w.send(msg, undefined, () => undefined);
  };

  const fork = (index: number): void => {
    const worker = cluster.fork({ [INDEX_ENV]: String(index), [COUNT_ENV]: String(workers) });
    const slot: Slot = { index, worker, ready: false };
    slots.set(index, slot);
    worker.on('message', (msg: unknown) => onMessage(slot, msg));
    worker.once('exit', (code: number | null, signal: string | null) => onExit(slot, code, signal));
  };

  const onMessage = (slot: Slot, msg: unknown): void => {
    if (!isMessage<ToPrimary>(msg)) return;
    if (msg.t === 'tollgate:ready') {
      slot.ready = true;
      // Asked to stop while this worker was starting: it could not hear the first request.
      if (stopping) send(slot.worker, { t: 'tollgate:shutdown' });
      else if (overrides.length > 0) send(slot.worker, { t: 'tollgate:overrides:apply', records: overrides });
      if (!readyAnnounced && [...slots.values()].every((s) => s.ready)) {
        readyAnnounced = true;
        const admin = slots.get(0);
        logger.info({ msg: 'cluster ready', workers, pids: [...slots.values()].map((s) => s.worker.process.pid), publicPort: msg.publicPort, adminWorker: admin?.worker.process.pid });
        // Watched from start-up; changes are acted on once every worker can hear the reload.
        opts.watch?.start((change) => {
          if (stopping) return;
          logger.info({ msg: 'config file changed; reloading', via: change.via, fingerprint: change.fingerprint });
          void reloadAll();
        });
      }
    } else if (msg.t === 'tollgate:reload-all') {
      void reloadAll().then((result) => send(slot.worker, { t: 'tollgate:reload-all:done', id: msg.id, result }));
    } else if (msg.t === 'tollgate:overrides') {
      overrides = msg.records;
      for (const s of slots.values()) if (s !== slot && s.ready) send(s.worker, { t: 'tollgate:overrides:apply', records: overrides });
    } else if (msg.t === 'tollgate:reloaded') {
      const p = pendingReloads.get(msg.id);
      if (p === undefined) return;
      p.results.push(msg.result);
      if (p.results.length >= p.expected) p.done(p.results);
    } else if (msg.t === 'tollgate:gather') {
      void gather().then((g) => send(slot.worker, { t: 'tollgate:gather:done', id: msg.id, ...g }));
    } else if (msg.t === 'tollgate:report:done') {
      const p = pendingGathers.get(msg.id);
      if (p === undefined || !p.asked.delete(slot.index)) return;
      if (msg.report !== null) p.reports.push(msg.report);
      if (p.asked.size === 0) p.done();
    }
  };

  /** Every ready worker's report for one cluster scrape; `missing` lists the workers without one. */
  const gather = async (): Promise<{ reports: WorkerReport[]; missing: number[] }> => {
    const live = [...slots.values()].filter((s) => s.ready && s.worker.isConnected());
    const id = ++gatherSeq;
    const entry = { reports: [] as WorkerReport[], asked: new Set(live.map((s) => s.index)), done: (): void => undefined };
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => entry.done(), GATHER_TIMEOUT_MS);
      entry.done = () => {
        clearTimeout(timer);
        pendingGathers.delete(id);
        resolve();
      };
      pendingGathers.set(id, entry);
      if (live.length === 0) entry.done();
      for (const s of live) send(s.worker, { t: 'tollgate:report', id });
    });
    const reports = entry.reports.sort((a, b) => a.index - b.index);
    const have = new Set(reports.map((r) => r.index));
    const missing = [];
    for (let i = 0; i < workers; i++) if (!have.has(i)) missing.push(i);
    return { reports, missing };
  };

  const onExit = (slot: Slot, code: number | null, signal: string | null): void => {
    if (slots.get(slot.index) === slot) slots.delete(slot.index);
    // A scrape waiting for this worker's report has it missing, now rather than at the timeout.
    for (const g of [...pendingGathers.values()]) if (g.asked.delete(slot.index) && g.asked.size === 0) g.done();
    if (stopping) {
      if (slots.size === 0) settle(failed ? 1 : 0);
      return;
    }
    if (!slot.ready) {
      // Start-up failed (the worker printed why): the others would fail the same way.
      logger.error({ msg: 'worker failed to start; stopping', worker: slot.index, code, signal });
      failed = true;
      void stopAll();
      return;
    }
    const now = clock.monotonic();
    restarts.push(now);
    while (restarts.length > 0 && (restarts[0] as number) < now - RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length > MAX_RESTARTS) {
      logger.error({ msg: 'workers keep dying; stopping', restarts: restarts.length, windowMs: RESTART_WINDOW_MS });
      failed = true;
      void stopAll();
      return;
    }
    logger.error({ msg: 'worker died; starting a new one', worker: slot.index, code, signal });
    fork(slot.index);
  };

  /** Reloads every live worker; one result per worker, failures first. */
  const reloadAll = async (): Promise<ReloadResult> => {
    const live = [...slots.values()].filter((s) => s.worker.isConnected());
    const id = ++reloadSeq;
    const results = await new Promise<ReloadResult[]>((resolve) => {
      const timer = setTimeout(() => finish(pendingReloads.get(id)?.results ?? []), RELOAD_TIMEOUT_MS);
      const finish = (r: ReloadResult[]): void => {
        clearTimeout(timer);
        pendingReloads.delete(id);
        resolve(r);
      };
      pendingReloads.set(id, { results: [], expected: live.length, done: finish });
      if (live.length === 0) finish([]);
      for (const s of live) send(s.worker, { t: 'tollgate:reload', id });
    });
    const failed = results.find((r) => r.result === 'failure');
    const missing = live.length - results.length;
    const at = new Date(clock.now()).toISOString();
    const combined: ReloadResult =
      failed ?? (missing > 0 ? { result: 'failure', error: `${missing} worker(s) did not answer the reload`, at, configHash: results[0]?.configHash ?? '' } : (results[0] ?? { result: 'failure', error: 'no live workers', at, configHash: '' }));
    const log = combined.result === 'success' ? logger.info.bind(logger) : logger.error.bind(logger);
    log({ msg: 'cluster reloaded', result: combined.result, error: combined.error, workers: results.length, configHash: combined.configHash });
    return combined;
  };

  const stopAll = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    opts.watch?.close();
    process.removeListener('SIGHUP', onHup);
    logger.info({ msg: 'cluster draining', workers: slots.size });
    if (slots.size === 0) settle(failed ? 1 : 0);
    for (const s of slots.values()) send(s.worker, { t: 'tollgate:shutdown' });
    const grace = durationMs(spec.shutdown.drainTimeout) + STOP_GRACE_MS;
    const timer = setTimeout(() => {
      for (const s of slots.values()) {
        logger.error({ msg: 'worker did not stop in time; killing it', worker: s.index, pid: s.worker.process.pid });
        failed = true;
        s.worker.process.kill('SIGKILL');
      }
    }, grace);
    timer.unref();
    await finished;
    clearTimeout(timer);
  };

  const onHup = (): void => {
    void reloadAll();
  };
  const onStop = (): void => {
    process.removeListener('SIGTERM', onStop);
    process.removeListener('SIGINT', onStop);
    void stopAll();
  };
  process.on('SIGHUP', onHup);
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);

  for (let i = 0; i < workers; i++) fork(i);
  const code = await finished;
  process.removeListener('SIGTERM', onStop);
  process.removeListener('SIGINT', onStop);
  storeServer.close();
  logger.info({ msg: 'cluster stopped', code });
  logger.flush?.();
  return code;
}

/**
 * Runs one worker of the group: the gateway with the primary's store, answering the primary's
 * reload and shutdown messages. Resolves with the exit code once drained.
 */
export async function runClusterWorker(opts: { configPath: string; logger: Logger; admin?: ServeAdmin; report?: ReportWorker }): Promise<number> {
  const index = Number(process.env[INDEX_ENV] ?? '0');
  const workers = Number(process.env[COUNT_ENV] ?? '1');
  const toPrimary = (msg: ToPrimary): void => {
    if (process.connected) process.send?.(msg, undefined, undefined, () => undefined);
  };
  let askSeq = 0;
  const asks = new Map<number, (r: ReloadResult) => void>();
  const gathers = new Map<number, (g: { reports: WorkerReport[]; missing: number[] }) => void>();
  const everyWorker = (): number[] => Array.from({ length: workers }, (_, i) => i);
  const view: ClusterView = {
    workers,
    gather: () =>
      new Promise((resolve) => {
        const id = ++askSeq;
        // The primary answers within GATHER_TIMEOUT_MS; a primary that is gone gets no longer.
        const timer = setTimeout(() => {
          gathers.delete(id);
          resolve({ reports: [], missing: everyWorker() });
        }, GATHER_TIMEOUT_MS + 1000);
        gathers.set(id, (g) => {
          clearTimeout(timer);
          resolve(g);
        });
        toPrimary({ t: 'tollgate:gather', id });
      }),
  };
  // Before the gateway starts: SIGHUP's default action would end this worker.
  const ignoreHup = (): void => undefined;
  process.on('SIGHUP', ignoreHup);

  let gw: Gateway;
  try {
    gw = await startGateway({
      configPath: opts.configPath,
      logger: opts.logger.child({ worker: index }),
      admin: opts.admin,
      cluster: {
        store: { create: () => createClusterWorkerStore({ timeoutMs: 1000 }), workers },
        admin: index === 0,
        view,
        reloadAll: () =>
          new Promise<ReloadResult>((resolve) => {
            const id = ++askSeq;
            asks.set(id, resolve);
            toPrimary({ t: 'tollgate:reload-all', id });
          }),
        shareOverrides: (records) => toPrimary({ t: 'tollgate:overrides', records }),
      },
    });
  } catch (err) {
    // Let the event loop end: the IPC channel would keep this process alive.
    process.disconnect?.();
    throw err;
  }

  return new Promise<number>((resolve) => {
    let stopping: Promise<void> | undefined;
    const stop = (): void => {
      if (stopping !== undefined) return;
      stopping = gw.shutdown().then(
        () => resolve(0),
        (err: unknown) => {
          gw.logger.error({ msg: 'shutdown failed', err: String(err) });
          resolve(1);
        },
      );
      void stopping.finally(() => {
        process.off('message', onMessage);
        process.off('SIGHUP', ignoreHup);
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        if (process.connected) process.disconnect();
      });
    };
    const onMessage = (msg: unknown): void => {
      if (!isMessage<ToWorker>(msg)) return;
      if (msg.t === 'tollgate:reload') {
        void gw.reload().then((result) => toPrimary({ t: 'tollgate:reloaded', id: msg.id, result }));
      } else if (msg.t === 'tollgate:reload-all:done') {
        asks.get(msg.id)?.(msg.result);
        asks.delete(msg.id);
      } else if (msg.t === 'tollgate:report') {
        const report = opts.report;
        const answer = (r: WorkerReport | null): void => toPrimary({ t: 'tollgate:report:done', id: msg.id, report: r });
        if (report === undefined) answer(null);
        else
          report(gw, systemClock).then(
            (r) => answer({ index, pid: process.pid, ...r }),
            (err: unknown) => {
              gw.logger.error({ msg: 'cluster report failed', err: String(err) });
              answer(null);
            },
          );
      } else if (msg.t === 'tollgate:gather:done') {
        gathers.get(msg.id)?.({ reports: msg.reports, missing: msg.missing });
        gathers.delete(msg.id);
      } else if (msg.t === 'tollgate:shutdown') {
        stop();
      } else if (msg.t === 'tollgate:overrides:apply') {
        gw.overrides.replaceAll(msg.records);
      }
    };
    process.on('message', onMessage);
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    // The primary is gone (killed): drain and leave rather than serve without a store.
    process.once('disconnect', stop);
    toPrimary({ t: 'tollgate:ready', index, publicPort: gw.publicPort, adminPort: gw.adminPort });
  });
}
