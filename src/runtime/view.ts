/**
 * What the admin API sees of a running gateway: a narrow view, so admin/ depends on this and not on
 * the lifecycle (control/lifecycle.ts builds a Gateway, which is one). The composition root
 * (cli/commands/start.ts, cli/commands/demo.ts, the cluster worker, test/support/gateway.ts) passes
 * `createAdminApp` as a `ServeAdmin` to `startGateway`; control/ never imports admin/.
 */
import type { Clock } from '../core/clock.js';
import type { GatewaySpec } from '../spec/schema.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { SnapshotHolder } from './holder.js';
import type { AdminOverrides } from './overrides.js';

export interface ReloadResult {
  readonly result: 'success' | 'failure';
  readonly error: string | null;
  readonly at: string;
  readonly configHash: string;
  /** After a successful reload: the restart-only keys (YAML paths) it changed, not yet in force. */
  readonly pendingRestart?: readonly string[];
}

export interface GatewayView {
  readonly holder: SnapshotHolder;
  readonly metrics: Metrics;
  readonly tls: { certificates(): Record<string, { readonly notAfter: string } | undefined> };
  readonly lastReload: ReloadResult | undefined;
  /** The last reload results (SIGHUP and POST /reload), oldest first; bounded by the gateway. */
  readonly reloadHistory: readonly ReloadResult[];
  readonly draining: boolean;
  readonly spec: GatewaySpec;
  /** Restart-only keys (YAML paths) the config in force changed since start: applied at the next restart. */
  readonly pendingRestart?: readonly string[];
  /** Set in the admin worker of a `workers > 1` group: the other workers' reports, for summed /metrics and /status. */
  readonly cluster?: ClusterView;
  /** Operator overrides (drain, forced health, forced tier); undefined where the gateway has none to offer. */
  readonly overrides?: AdminOverrides;
  reload(): Promise<ReloadResult>;
}

/** One worker's part of a cluster-wide /metrics and /status (gathered by the primary over IPC). */
export interface WorkerReport {
  readonly index: number;
  readonly pid: number;
  /** prom-client's `getMetricsAsJSON()` of the worker's registry, after its scrape-time refresh. */
  readonly metrics: readonly unknown[];
  /** The worker's own /status document. */
  readonly status: Record<string, unknown>;
}

/** What a worker reports of itself; the composition root passes the admin API's builder (admin/cluster-report.ts). */
export type ReportWorker = (view: GatewayView, clock: Clock) => Promise<Pick<WorkerReport, 'metrics' | 'status'>>;

/** The group as the admin worker sees it. */
export interface ClusterView {
  /** Workers the group runs. */
  readonly workers: number;
  /** Every live worker's report (this one's included), by index; `missing`: the indexes that did not answer in time. */
  gather(): Promise<{ reports: WorkerReport[]; missing: number[] }>;
}

/** A listening admin API. */
export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts an admin API for `view` on host:port (0 = ephemeral). */
export type ServeAdmin = (
  view: GatewayView,
  opts: { host: string; port: number; clock: Clock; allowedHosts?: readonly string[]; token?: string; tokenFile?: string },
) => Promise<AdminServer>;
