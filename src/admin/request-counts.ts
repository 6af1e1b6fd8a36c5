/** The requests part of /status, read from the request counter (summed over workers in a cluster). */
import type { Metrics } from '../telemetry/metrics.js';

/** Requests answered, for /status: the total, by route and by status code (from `tollgate_requests_total`). */
export function requestCounts(metrics: Pick<Metrics, 'requests'>): { total: number; byRoute: Record<string, number>; byStatus: Record<string, number> } {
  let total = 0;
  const byRoute: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  metrics.requests.forEach((labels, value) => {
    total += value;
    const route = labels.route ?? '';
    const code = labels.code ?? '';
    byRoute[route] = (byRoute[route] ?? 0) + value;
    byStatus[code] = (byStatus[code] ?? 0) + value;
  });
  return { total, byRoute, byStatus };
}
