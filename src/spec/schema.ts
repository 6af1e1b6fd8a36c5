/**
 * The YAML schema: the one source of the config types and defaults (SPEC §2).
 * No I/O. Every object is strict so a typo is an error with its path.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { badHeaderValueReason, badOriginReason, protectedHeaderReason, unsafePatternReason, type HeaderDirection } from './policy-rules.js';

const duration = z
  .string({ error: 'expected a duration like "1s"' })
  .refine((s) => parseDuration(s) !== undefined, { error: 'expected a duration like "1s"' });

const positiveDuration = duration.refine((s) => (parseDuration(s) ?? 0) > 0, {
  error: 'expected a duration greater than zero',
});

const port = z.number().int().min(0).max(65535);

/** An IPv4/IPv6 address or CIDR (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`). */
const cidr = z.string().refine(
  (s) => {
    const [addr, bits, extra] = s.split('/');
    const family = isIP(addr ?? '');
    return family !== 0 && extra === undefined && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)));
  },
  { error: 'expected an IP address or CIDR like 10.0.0.0/8' },
);

const limitKey = z
  .string()
  .regex(/^(ip|identity|route|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|jwt:[A-Za-z0-9_.:-]+)$/, {
    error: 'expected ip, identity, route, header:NAME or jwt:CLAIM',
  });

const hashKey = z
  .string()
  .regex(/^(ip|identity|path|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|cookie:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$/, {
    error: 'expected ip, identity, path, header:NAME or cookie:NAME',
  });

const spiffePattern = z
  .string()
  .regex(/^spiffe:\/\/[^/*]+(\/[^*]*)?(\/\*)?$/, { error: 'expected spiffe://TRUST-DOMAIN/PATH, optionally ending in /*' });

export const ListenSpec = z.strictObject({
  host: z.string().default('0.0.0.0'),
  port: port.default(8443),
  /** Expect a PROXY protocol v1/v2 header (from an L4 balancer in `trustedProxies`) before TLS. */
  proxyProtocol: z.boolean().default(false),
});

export const ServingCertificateSpec = z.strictObject({
  cert: z.string(),
  key: z.string(),
  serverNames: z.array(z.string().min(1)).min(1).optional(),
});

export const AcmeSpec = z.strictObject({
  directory: z.url(),
  email: z.string().min(3),
  names: z.array(z.string().regex(/^[A-Za-z0-9.-]+$/, { error: 'expected a DNS name (no wildcards with http-01)' })).min(1),
  challenge: z.enum(['http-01', 'tls-alpn-01']).default('http-01'),
  storage: z.string().default('certs/acme'),
  directoryCA: z.string().optional(),
});

export const TlsSpec = z.strictObject({
  cert: z.string().optional(),
  key: z.string().optional(),
  serverNames: z.array(z.string().min(1)).default(['localhost', '127.0.0.1']),
  clientAuth: z.enum(['none', 'optional', 'require']).default('optional'),
  /** A bare path issues no SPIFFE identity; `{ file, trustDomains }` may issue ids in those trust domains (never the gateway's own). */
  clientCAs: z
    .array(
      z.union([
        z.string(),
        z.strictObject({
          file: z.string(),
          trustDomains: z.array(z.string().regex(/^[a-z0-9._-]+$/, { error: 'expected a trust domain like "partner.example"' })).default([]),
        }),
      ]),
    )
    .default([]),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  /** Further serving certificates, chosen by SNI; names read from the certificate when not given. */
  certificates: z.array(ServingCertificateSpec).default([]),
  acme: AcmeSpec.optional(),
});

export const CaSpec = z.strictObject({
  dir: z.string().default('certs/ca'),
  trustDomain: z
    .string()
    .regex(/^[a-z0-9.-]+$/, { error: 'expected a trust domain like "tollgate.local"' })
    .default('tollgate.local'),
  workloadTTL: positiveDuration.default('24h'),
  maxTTL: positiveDuration.default('720h'),
  /** Renewal by client certificate at POST /sign: only in the last `window` of the lifetime, at most `maxPerHour` per identity. */
  renewal: z
    .strictObject({
      window: z.number().gt(0).lte(1).default(1 / 3),
      maxPerHour: z.number().int().min(1).default(6),
    })
    .prefault({}),
  /** With `store.type: redis` (CA state shared by replicas): how often each replica checks the revocation list's version, besides pub/sub. */
  revocationPollInterval: positiveDuration.default('500ms'),
  api: z
    .strictObject({
      enabled: z.boolean().default(true),
      pathPrefix: z.string().regex(/^\/[^?#]*[^/?#]$/, { error: 'expected a path like "/.well-known/tollgate/ca"' }).default('/.well-known/tollgate/ca'),
    })
    .prefault({}),
});

export const AdminSpec = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: port.default(9901),
  /** Host names (without port) the admin API answers besides loopback and `host`: DNS-rebinding guard. */
  allowedHosts: z.array(z.string().min(1)).default([]),
  /** Bearer token for state-changing admin requests (else `tokenFile`, else env TOLLGATE_ADMIN_TOKEN). */
  token: z.string().min(16, { error: 'expected at least 16 characters' }).optional(),
  /** File holding the admin bearer token (first line; at least 16 characters). */
  tokenFile: z.string().min(1).optional(),
  /** The live console at `GET /`: how often its sampler records rates and health, and how many samples it keeps. */
  console: z
    .strictObject({
      sampleInterval: positiveDuration.default('5s'),
      samples: z.number().int().min(2).max(1000).default(60),
    })
    .prefault({}),
}).refine((a) => a.token === undefined || a.tokenFile === undefined, { error: 'set admin.token or admin.tokenFile, not both' });

export const StoreSpec = z.strictObject({
  type: z.enum(['memory', 'redis']).default('memory'),
  redis: z
    .strictObject({
      url: z.string().default('redis://127.0.0.1:6379'),
      keyPrefix: z.string().default('tollgate:'),
      commandTimeout: positiveDuration.default('100ms'),
    })
    .prefault({}),
  onStoreFailure: z.enum(['local', 'deny']).default('local'),
  /** The memory store (and the cluster primary's): one bounded table of keys per route limit. */
  memory: z
    .strictObject({
      /** Most live keys per limit (per route, rate and quota apart); a full table refuses new keys. */
      maxKeysPerLimit: z.number().int().min(1).default(100_000),
    })
    .prefault({}),
});

export const LimitsSpec = z.strictObject({
  maxHeaderBytes: z.number().int().min(1024).default(16384),
  maxBodyBytes: z.number().int().min(0).default(10_485_760),
  /** Most header fields per request (both protocols); more → 431, nothing forwarded. */
  maxHeaderCount: z.number().int().min(1).max(250).default(100),
  /** Longest request-target (path and query) in bytes; longer → 414. */
  maxRequestTargetBytes: z.number().int().min(256).default(8192),
  headersTimeout: positiveDuration.default('10s'),
  idleTimeout: positiveDuration.default('60s'),
  maxConcurrentStreams: z.number().int().min(1).default(100),
  /** Abuse guard: new connections per client IP (per process); count 0 turns it off. Applied on reload (counts start afresh). */
  newConnectionsPerIp: z
    .strictObject({ count: z.number().int().min(0).default(1000), per: positiveDuration.default('10s') })
    .prefault({}),
  /** Open client connections in total (per process); over it a new connection is closed before TLS. 0 = off. */
  maxConnections: z.number().int().min(0).default(10_000),
  /** Open client connections per client IP (per process); over it a new connection is closed before TLS. 0 = off. */
  maxConnectionsPerIp: z.number().int().min(0).default(0),
  /** Total time for a request body to arrive (forwarded or not); 0s = off. */
  requestBodyTimeout: duration.default('60s'),
  /** Overload manager: shed new connections and requests while the event loop lags or the heap is nearly full. */
  overload: z
    .strictObject({
      /** Largest event-loop delay tolerated (0s = off). */
      maxEventLoopDelay: duration.default('250ms'),
      /** heapUsed / heap_size_limit tolerated (0 = off). */
      maxHeapFraction: z.number().min(0).max(1).default(0.95),
    })
    .prefault({}),
  /** Abuse guard: refused CA API credentials per client IP before the IP is blocked. Applied on reload (counts start afresh). */
  caFailuresPerIp: z
    .strictObject({ count: z.number().int().min(1).default(10), per: positiveDuration.default('10m'), block: positiveDuration.default('15m') })
    .prefault({}),
});

export const MatchSpec = z
  .strictObject({
    path: z.string().startsWith('/', { error: 'expected a path starting with "/"' }).optional(),
    pathPrefix: z.string().startsWith('/', { error: 'expected a path starting with "/"' }).optional(),
    pathRegex: z
      .string()
      .refine(
        (s) => {
          try {
            new RegExp(s);
            return true;
          } catch {
            return false;
          }
        },
        { error: 'expected a valid regular expression' },
      )
      .optional(),
    host: z
      .string()
      .regex(/^(\*\.)?[A-Za-z0-9.-]+(:\d+)?$/, { error: 'expected a host name like api.example.com or *.example.com' })
      .optional(),
    methods: z.array(z.string().regex(/^[A-Z]+$/, { error: 'expected an upper-case HTTP method' })).min(1).optional(),
    headers: z.record(z.string(), z.string()).optional(),
  })
  .refine((m) => [m.path, m.pathPrefix, m.pathRegex].filter((x) => x !== undefined).length <= 1, {
    error: 'set at most one of path, pathPrefix, pathRegex',
  });

export const RateLimitSpec = z.strictObject({
  rate: z.number().positive(),
  per: positiveDuration,
  burst: z.number().positive().optional(),
  by: limitKey.default('ip'),
});

export const QuotaSpec = z.strictObject({
  limit: z.number().int().positive(),
  per: z.string().regex(/^(1h|1d|30d)$/, { error: 'expected one of 1h, 1d, 30d' }),
  by: limitKey.default('identity'),
});

export const RetryOn = z.enum(['connect-failure', 'reset', 'timeout', '502', '503', '504']);

export const RetriesSpec = z.strictObject({
  attempts: z.number().int().min(1).max(10),
  perTryTimeout: positiveDuration.optional(),
  on: z.array(RetryOn).default(['connect-failure', 'reset', '502', '503', '504']),
  /** Retry non-idempotent methods too (off: only GET, HEAD, OPTIONS, PUT, DELETE, TRACE are retried). */
  nonIdempotent: z.boolean().default(false),
});

export const JwtAuthSpec = z
  .strictObject({
    issuer: z.string(),
    audience: z.string(),
    jwksUrl: z.string().url().optional(),
    jwksFile: z.string().optional(),
    clockTolerance: duration.default('30s'),
    /** Refuse tokens without `exp` (401): a token that never expires is a credential forever. */
    requireExp: z.boolean().default(true),
  })
  .refine((j) => (j.jwksUrl === undefined) !== (j.jwksFile === undefined), {
    error: 'set exactly one of jwksUrl, jwksFile',
  });

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: 'expected a header name' });

/** Forward auth (Traefik's forwardAuth, Envoy's ext_authz over HTTP): an HTTP service decides each request. */
export const ForwardAuthSpec = z.strictObject({
  /** The auth service: each request is asked as a GET to this URL (http:// or https://), with x-forwarded-method/-uri/-host/-for. */
  url: z.string().regex(/^https?:\/\/[^/?#]+(\/[^#]*)?$/, { error: 'expected an http:// or https:// URL' }),
  /** Client request headers copied to the auth request. */
  headers: z.array(headerName).default(['authorization', 'cookie']),
  /** Headers of a 2xx auth answer copied to the upstream request (client-sent copies are always dropped). */
  responseHeaders: z.array(headerName).default([]),
  /** Bound on the whole auth exchange (connect, answer, body). */
  timeout: positiveDuration.default('1s'),
  /** When the auth service cannot be reached or does not answer in time: deny (503 AUTH_UNAVAILABLE) or allow. */
  failureMode: z.enum(['deny', 'allow']).default('deny'),
  /** Largest auth-answer body returned to a denied client; a longer one is cut there. */
  maxBodyBytes: z.number().int().min(0).max(1_048_576).default(65_536),
});

export const AuthSpec = z.strictObject({
  mtls: z.strictObject({ allow: z.array(spiffePattern).min(1) }).optional(),
  jwt: JwtAuthSpec.optional(),
  forward: ForwardAuthSpec.optional(),
});

export const WeightedUpstreamSpec = z.strictObject({
  name: z.string().min(1),
  weight: z.number().int().min(0).default(1),
});

/** host[:port] for Host rewrites and redirects. */
const authority = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, { error: 'expected host or host:port' });

/** `set`/`add`/`remove` of one direction; names the gateway owns are refused at their key's path (http/header-policy.ts). */
const headerOps = (direction: HeaderDirection) =>
  z
    .strictObject({
      set: z.record(z.string(), z.string()).optional(),
      add: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
      remove: z.array(z.string()).optional(),
    })
    .superRefine((ops, ctx) => {
      const name = (n: string, path: PropertyKey[]): void => {
        const reason = protectedHeaderReason(n, direction);
        if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason, path });
      };
      const value = (v: string, path: PropertyKey[]): void => {
        const reason = badHeaderValueReason(v);
        if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason, path });
      };
      for (const [n, v] of Object.entries(ops.set ?? {})) {
        name(n, ['set', n]);
        value(v, ['set', n]);
      }
      for (const [n, v] of Object.entries(ops.add ?? {})) {
        name(n, ['add', n]);
        for (const one of typeof v === 'string' ? [v] : v) value(one, ['add', n]);
      }
      (ops.remove ?? []).forEach((n, i) => name(n, ['remove', i]));
    });

/** Header policy (issue 16): applied global first, then the route. */
export const HeadersPolicySpec = z.strictObject({
  request: headerOps('request').optional(),
  response: headerOps('response').optional(),
});

const mediaRange = z.string().regex(/^[a-z0-9!#$&^_.+-]+\/(\*|\*\+[a-z0-9!#$&^_.-]+|[a-z0-9!#$&^_.+-]+)$/i, {
  error: 'expected a media type like text/*, application/json or application/*+json',
});

/** Global compression settings; a route's `compression` overrides them key by key. */
export const CompressionSpec = z.strictObject({
  enabled: z.boolean().default(false),
  types: z.array(mediaRange).default(['text/*', 'application/json', 'application/javascript', 'application/xml', 'image/svg+xml', 'application/*+json', 'application/*+xml']),
  minBytes: z.number().int().min(0).default(1024),
  level: z.number().int().min(1).max(9).default(5),
});
export const RouteCompressionSpec = z.strictObject({
  enabled: z.boolean().optional(),
  types: z.array(mediaRange).optional(),
  minBytes: z.number().int().min(0).optional(),
  level: z.number().int().min(1).max(9).optional(),
});

const headerToken = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: 'expected a header name' });

export const CorsSpec = z
  .strictObject({
    origins: z.array(z.string().refine((o) => badOriginReason(o) === undefined, { error: 'expected an origin like https://app.example.com, https://*.example.com or *' })).min(1),
    methods: z.array(z.string().regex(/^[A-Z]+$/, { error: 'expected an upper-case HTTP method' })).default(['GET', 'HEAD', 'POST']),
    headers: z.array(headerToken).default([]),
    exposeHeaders: z.array(headerToken).default([]),
    credentials: z.boolean().default(false),
    maxAge: duration.optional(),
  })
  .superRefine((c, ctx) => {
    if (!c.credentials) return;
    c.origins.forEach((o, i) => {
      if (o === '*') ctx.addIssue({ code: 'custom', message: '"*" cannot be used with credentials: true (browsers refuse it); list the origins', path: ['origins', i] });
    });
    c.headers.forEach((h, i) => {
      if (h === '*') ctx.addIssue({ code: 'custom', message: '"*" cannot be used with credentials: true; list the headers', path: ['headers', i] });
    });
  });

export const RewriteSpec = z
  .strictObject({
    prefix: z.string().startsWith('/', { error: 'expected a path starting with "/"' }).optional(),
    regex: z
      .strictObject({
        pattern: z.string().superRefine((p, ctx) => {
          const reason = unsafePatternReason(p);
          if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason });
        }),
        substitution: z.string().regex(/^[^?#\s]*$/, { error: 'expected a path (no "?", "#" or spaces): the query string is kept as it came' }),
      })
      .optional(),
  })
  .refine((r) => (r.prefix === undefined) !== (r.regex === undefined), { error: 'set exactly one of prefix, regex' });

export const RedirectSpec = z
  .strictObject({
    scheme: z.enum(['http', 'https']).optional(),
    host: authority.optional(),
    path: z.string().regex(/^\/[^\s?#]*$/, { error: 'expected a path starting with "/" (no query)' }).optional(),
    prefix: z.string().regex(/^\/[^\s?#]*$/, { error: 'expected a path starting with "/" (no query)' }).optional(),
    stripQuery: z.boolean().default(false),
    status: z.union([z.literal(301), z.literal(302), z.literal(307), z.literal(308)], { error: 'expected 301, 302, 307 or 308' }).default(301),
  })
  .refine((r) => r.path === undefined || r.prefix === undefined, { error: 'set at most one of path, prefix' });

/** Cross-key checks of a route's header/rewrite/redirect keys, reported at their paths. */
function checkRoutePolicy(r: { match: { pathPrefix?: string | undefined }; stripPrefix: boolean; upstream?: string | undefined; upstreams?: unknown; redirect?: { prefix?: string | undefined } | undefined; rewrite?: { prefix?: string | undefined } | undefined }, ctx: z.RefinementCtx): void {
  if (r.redirect !== undefined && (r.upstream !== undefined || r.upstreams !== undefined)) {
    ctx.addIssue({ code: 'custom', message: 'a redirect route has no upstream: remove upstream/upstreams', path: ['redirect'] });
  }
  if (r.redirect?.prefix !== undefined && r.match.pathPrefix === undefined) ctx.addIssue({ code: 'custom', message: 'needs match.pathPrefix', path: ['redirect', 'prefix'] });
  if (r.rewrite?.prefix !== undefined && r.match.pathPrefix === undefined) ctx.addIssue({ code: 'custom', message: 'needs match.pathPrefix', path: ['rewrite', 'prefix'] });
  if (r.rewrite !== undefined && r.stripPrefix) ctx.addIssue({ code: 'custom', message: 'set either stripPrefix or rewrite (rewrite.prefix: "/" strips)', path: ['rewrite'] });
}

export const RouteSpec = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: 'expected a name of letters, digits, "_", "." or "-"' }),
    match: MatchSpec,
    stripPrefix: z.boolean().default(false),
    upstream: z.string().optional(),
    upstreams: z.array(WeightedUpstreamSpec).min(1).optional(),
    auth: AuthSpec.optional(),
    rateLimit: RateLimitSpec.optional(),
    quota: QuotaSpec.optional(),
    timeout: positiveDuration.default('15s'),
    retries: RetriesSpec.optional(),
    /** Client-address rules, checked before identity: a denied or (with `allow`) unlisted address gets 403. */
    ipAccess: z.strictObject({ allow: z.array(cidr).default([]), deny: z.array(cidr).default([]) }).optional(),
    /** Header policy, CORS, rewrites, redirects and compression (issue 16). */
    headers: HeadersPolicySpec.optional(),
    hostRewrite: authority.optional(),
    rewrite: RewriteSpec.optional(),
    redirect: RedirectSpec.optional(),
    cors: CorsSpec.optional(),
    compression: RouteCompressionSpec.optional(),
  })
  .refine((r) => r.redirect !== undefined || (r.upstream === undefined) !== (r.upstreams === undefined), {
    error: 'set exactly one of upstream, upstreams',
  })
  .superRefine(checkRoutePolicy);

export const TargetSpec = z.strictObject({
  url: z.string().regex(/^(https?:\/\/[^/?#]+|dns\+srv:\/\/_[A-Za-z0-9-]+\._(tcp|udp)(\.[A-Za-z0-9_-]+)+)\/?$/, {
    error: 'expected an origin URL like http://127.0.0.1:3001 or http://orders.internal:8080, or dns+srv://_http._tcp.orders.internal',
  }),
  weight: z.number().int().min(1).default(1),
});

export const HealthCheckSpec = z.strictObject({
  path: z.string().startsWith('/').default('/healthz'),
  interval: positiveDuration.default('5s'),
  timeout: positiveDuration.optional(),
  healthyThreshold: z.number().int().min(1).default(2),
  unhealthyThreshold: z.number().int().min(1).default(3),
});

export const OutlierDetectionSpec = z.strictObject({
  consecutiveFailures: z.number().int().min(1).default(5),
  ejectionTime: positiveDuration.default('30s'),
  maxEjectionPercent: z.number().min(0).max(100).default(50),
});

export const CircuitBreakerSpec = z.strictObject({
  maxConnections: z.number().int().min(1).default(1024),
  maxPendingRequests: z.number().int().min(0).default(1024),
});

export const UpstreamSpec = z.strictObject({
  balance: z.enum(['round-robin', 'random', 'least-request', 'consistent-hash', 'peak-ewma']).default('round-robin'),
  hashBy: hashKey.optional(),
  targets: z.array(TargetSpec).min(1),
  backups: z.array(TargetSpec).default([]),
  healthCheck: HealthCheckSpec.optional(),
  outlierDetection: OutlierDetectionSpec.optional(),
  circuitBreaker: CircuitBreakerSpec.prefault({}),
  tls: z.strictObject({ identity: z.enum(['workload', 'none']).default('none') }).optional(),
  /** Protocol to the targets: http1 (default) or h2 (ALPN for https://, prior knowledge h2c for http://). */
  protocol: z.enum(['http1', 'h2']).optional(),
  /** Targets naming a host or SRV record: re-resolved this often instead of on the TTL (within dns.minInterval..maxInterval). */
  resolveInterval: positiveDuration.optional(),
  /** The Host sent to this pool's targets (a route's `hostRewrite` wins). */
  hostRewrite: authority.optional(),
});

/** `127.0.0.1`, `127.0.0.1:5353`, `::1`, `[::1]:5353`: what node:dns `setServers` takes. */
const dnsServer = z.string().refine(
  (s) => {
    if (isIP(s) !== 0) return true;
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
    if (m === null) return false;
    const host = m[1] ?? m[2] ?? '';
    return (m[1] !== undefined ? isIP(host) === 6 : isIP(host) === 4) && Number(m[3]) >= 1 && Number(m[3]) <= 65535;
  },
  { error: 'expected a DNS server address like 127.0.0.1:5353 or [::1]:53' },
);

const atLeast100ms = (s: string): boolean => (parseDuration(s) ?? 0) >= 100;

/** Resolution of upstream targets that name a host or an SRV record (docs/upstreams.md). */
export const DnsSpec = z
  .strictObject({
    servers: z.array(dnsServer).default([]),
    timeout: positiveDuration.default('2s'),
    minInterval: duration.refine(atLeast100ms, { error: 'expected at least 100ms' }).default('1s'),
    maxInterval: positiveDuration.default('5m'),
    noTtlInterval: positiveDuration.default('30s'),
    family: z.enum(['v4-preferred', 'v4', 'v6', 'all']).default('v4-preferred'),
  })
  .refine((d) => (parseDuration(d.minInterval) ?? 0) <= (parseDuration(d.maxInterval) ?? 0), {
    error: 'minInterval must not be greater than maxInterval',
  });

/** Request header hygiene (issue 10). */
export const SecuritySpec = z.strictObject({
  /** More request headers (lower-cased) the gateway never forwards, besides the built-in identity set. */
  stripRequestHeaders: z.array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/)).default([]),
  /** Header names with "_": `drop` (not forwarded, like nginx's default) or `allow`. */
  underscoresInHeaders: z.enum(['drop', 'allow']).default('drop'),
});
export const ShutdownSpec = z.strictObject({ drainTimeout: duration.default('30s') });

/** OpenTelemetry traces exported over OTLP/HTTP (JSON); off unless `otlpEndpoint` is set. */
export const TracingSpec = z.strictObject({
  /** The collector's traces URL, used as is (e.g. http://127.0.0.1:4318/v1/traces). Unset: tracing off. */
  otlpEndpoint: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
  /** Share of new traces sampled (0–1); a valid incoming traceparent's sampled flag decides for its trace. */
  sampleRatio: z.number().min(0).max(1).default(1),
  serviceName: z.string().min(1).default('tollgate'),
  /** Batching of the exporter: spans wait at most this long before they are sent. */
  flushInterval: positiveDuration.default('5s'),
  /** Spans held for export; beyond it new spans are dropped. */
  maxQueueSize: z.number().int().min(1).default(2048),
  /** Spans per export request. */
  maxBatchSize: z.number().int().min(1).default(512),
  /** Bound on one export request. */
  exportTimeout: positiveDuration.default('10s'),
});

export const ACCESS_LOG_FIELDS = [
  'requestId',
  'route',
  'upstream',
  'target',
  'method',
  'path',
  'proto',
  'client',
  'status',
  'durationMs',
  'attempts',
  'bytes',
  'code',
  'err',
  'identity',
  'traceId',
  'host',
  'tls',
  'userAgent',
] as const;

/** The access line: one JSON object per request; `fields` chooses which request fields it carries. */
export const AccessLogSpec = z.strictObject({
  format: z.enum(['json']).default('json'),
  /** Request fields of each line (level, time, service and msg are always there); default: all of them. */
  fields: z.array(z.enum(ACCESS_LOG_FIELDS)).min(1).default([...ACCESS_LOG_FIELDS]),
});

export const GatewaySpec = z.strictObject({
  listen: ListenSpec.prefault({}),
  redirectHttp: z.strictObject({ port }).optional(),
  workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default(1),
  tls: TlsSpec.prefault({}),
  trustedProxies: z.array(z.string()).default([]),
  shutdown: ShutdownSpec.prefault({}),
  ca: CaSpec.prefault({}),
  admin: AdminSpec.prefault({}),
  store: StoreSpec.prefault({}),
  limits: LimitsSpec.prefault({}),
  security: SecuritySpec.prefault({}),
  headers: HeadersPolicySpec.optional(),
  compression: CompressionSpec.prefault({}),
  tracing: TracingSpec.prefault({}),
  accessLog: AccessLogSpec.prefault({}),
  routes: z.array(RouteSpec).default([]),
  upstreams: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), UpstreamSpec).default({}),
  dns: DnsSpec.prefault({}),
});

export type GatewaySpec = z.infer<typeof GatewaySpec>;
export type RouteSpec = z.infer<typeof RouteSpec>;
export type AcmeSpec = z.infer<typeof AcmeSpec>;
export type MatchSpec = z.infer<typeof MatchSpec>;
export type UpstreamSpec = z.infer<typeof UpstreamSpec>;
export type TargetSpec = z.infer<typeof TargetSpec>;
export type DnsSpec = z.infer<typeof DnsSpec>;
export type HealthCheckSpec = z.infer<typeof HealthCheckSpec>;
export type OutlierDetectionSpec = z.infer<typeof OutlierDetectionSpec>;
export type CircuitBreakerSpec = z.infer<typeof CircuitBreakerSpec>;
export type RateLimitSpec = z.infer<typeof RateLimitSpec>;
export type QuotaSpec = z.infer<typeof QuotaSpec>;
export type RetriesSpec = z.infer<typeof RetriesSpec>;
export type AuthSpec = z.infer<typeof AuthSpec>;
export type JwtAuthSpec = z.infer<typeof JwtAuthSpec>;
export type ForwardAuthSpec = z.infer<typeof ForwardAuthSpec>;
export type TracingSpec = z.infer<typeof TracingSpec>;
export type AccessLogSpec = z.infer<typeof AccessLogSpec>;
export type LimitsSpec = z.infer<typeof LimitsSpec>;
export type TlsSpec = z.infer<typeof TlsSpec>;
export type CaSpec = z.infer<typeof CaSpec>;
export type StoreSpec = z.infer<typeof StoreSpec>;
export type HeadersPolicySpec = z.infer<typeof HeadersPolicySpec>;
export type CompressionSpec = z.infer<typeof CompressionSpec>;
export type CorsSpec = z.infer<typeof CorsSpec>;
