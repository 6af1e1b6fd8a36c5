/**
 * V8 settings for a gateway process, applied by `tollgate start` and `tollgate demo` before the
 * gateway starts. Measured, not guessed (bench/RESULTS.md, "GC"):
 *
 * `--no-allocation-site-pretenuring`: with V8's default allocation-site pretenuring the gateway's
 * scavenges kept about three times as much of the young generation alive (0.6 MB instead of 0.2 MB
 * per scavenge with 50 HTTP/1.1 connections busy) and took twice as long; a proxy's objects live for
 * one request, so allocation-site feedback only adds memento bookkeeping. Turning it off cut GC time
 * by about 3 µs per proxied request. TOLLGATE_V8_DEFAULTS=1 leaves V8 as it is.
 */
import { setFlagsFromString } from 'node:v8';

export const GATEWAY_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/** Applies GATEWAY_V8_FLAGS unless TOLLGATE_V8_DEFAULTS=1; returns the flags applied. */
export function tuneV8ForGateway(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  if (env.TOLLGATE_V8_DEFAULTS === '1') return [];
  for (const flag of GATEWAY_V8_FLAGS) setFlagsFromString(flag);
  return GATEWAY_V8_FLAGS;
}
