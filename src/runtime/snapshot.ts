/**
 * The immutable runtime snapshot: everything the data path reads, compiled once per config load.
 * Requests pin `holder.current` once and never look at the config again.
 */
import type { Dispatcher } from 'undici';
import type { RouteTable } from '../router/compile.js';
import type { UpstreamPool } from '../upstream/pool.js';
import type { RetryBudget } from '../upstream/retry-budget.js';
import type { ResolutionStatus } from '../upstream/resolved-targets.js';
import type { LimitPolicy } from '../policy/rate-limit.js';
import type { CounterStore } from '../store/counter-store.js';
import type { Identity } from '../core/types.js';
import type { HeaderPolicy } from '../http/request-headers.js';
import type { CompiledHeaderOps } from '../http/header-policy.js';
import type { CompiledCors } from '../http/cors.js';
import type { CompiledRedirect } from '../http/redirect.js';
import type { ResponsePolicy } from '../http/response-policy.js';
import type { CompiledRewrite } from '../router/rewrite.js';
import type { ForwardAuth } from '../policy/forward-auth.js';
import type { Tracing } from '../telemetry/tracing.js';

export type AuthzVerdict = 'ok' | 'unauthenticated' | 'forbidden';

export interface CompiledRetries {
  readonly attempts: number;
  readonly perTryTimeoutMs: number;
  readonly on: ReadonlySet<string>;
  readonly nonIdempotent: boolean;
}

/** A pool with what it takes to reach it. Survives reloads when its definition is unchanged. */
export interface PoolRuntime {
  readonly name: string;
  readonly pool: UpstreamPool;
  /** undici dispatcher per target origin. */
  readonly dispatchers: ReadonlyMap<string, Dispatcher>;
  /** Builds the consistent-hash key, or undefined when the pool does not hash. */
  readonly hashBy: string | undefined;
  readonly retryBudget: RetryBudget;
  /**
   * Pools with targets from DNS: `pool` is then re-read on every use (a re-resolve swaps it in place,
   * without a reload), and this reports the names' resolution for /status.
   */
  readonly resolution?: () => ResolutionStatus;
}

/** One route's compiled behaviour. */
export interface CompiledRoute {
  readonly name: string;
  readonly stripPrefix: boolean;
  readonly timeoutMs: number;
  readonly retries: CompiledRetries | undefined;
  /** Pools with their split weights; a single entry for `upstream`. */
  /** `hostRewrite`: the route's, else the pool's; undefined sends the client's authority. */
  readonly split: readonly { readonly pool: PoolRuntime; readonly weight: number; readonly hostRewrite?: string | undefined }[];
  readonly totalWeight: number;
  readonly mtlsAllow: ((spiffeId: string | undefined) => AuthzVerdict) | undefined;
  readonly jwt: { verify(authorization: string | undefined): Promise<Readonly<Record<string, unknown>>> } | undefined;
  readonly limits: LimitPolicy | undefined;
  /** `ipAccess`: true when the client address may use the route; undefined when the route has no rules. */
  readonly ipAccess: ((ip: string) => boolean) | undefined;
  /** Request header policy (global, then route), or undefined (issue 16). */
  readonly requestHeaders: CompiledHeaderOps | undefined;
  /** Response header policy, CORS and compression, or undefined when the route has none. */
  readonly response: ResponsePolicy | undefined;
  readonly rewrite: CompiledRewrite | undefined;
  /** A redirect route answers at the edge and has no upstream. */
  readonly redirect: CompiledRedirect | undefined;
  /** Preflights are answered at the edge; the response path adds the actual-request headers. */
  readonly cors: CompiledCors | undefined;
  /** `auth.forward`: the auth service asked before the request goes upstream. */
  readonly forwardAuth: ForwardAuth | undefined;
}

export interface DataLimits {
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
  readonly idleTimeoutMs: number;
  readonly maxRequestTargetBytes: number;
  readonly headers: HeaderPolicy;
}

export interface RuntimeSnapshot {
  /** Increments with every successful load. */
  readonly generation: number;
  readonly configHash: string;
  readonly loadedAt: string;
  readonly routes: RouteTable<CompiledRoute>;
  readonly pools: ReadonlyMap<string, PoolRuntime>;
  readonly limits: DataLimits;
  /** The global response header policy, for answers made before a route matched (issue 16). */
  readonly responseHeaders: CompiledHeaderOps | undefined;
  readonly isTrustedProxy: (ip: string) => boolean;
  readonly store: CounterStore;
  /** The gateway's own SPIFFE id (the `By=` of x-forwarded-client-cert). */
  readonly gatewayId: string;
  /** Identity of the TLS peer of a request; cached per socket by the implementation. */
  readonly peerIdentity: (socket: unknown) => Identity;
  /** `tracing`: undefined when off (then the pipeline makes no trace objects). */
  readonly tracing: Tracing | undefined;
  /** Keys of the shared resources (control/resources.ts) this snapshot holds. */
  readonly resources: ReadonlySet<string>;
}
