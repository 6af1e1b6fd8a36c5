import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { RetriesSpec } from '../spec/schema.js';
import { createRetryBudget } from '../upstream/retry-budget.js';
import { decideRetry, isIdempotent, retryAllowed, type RetryQuestion } from './retry.js';

const spec = RetriesSpec.parse({ attempts: 2 });
const SEND = new GatewayError('UPSTREAM_UNAVAILABLE', 'Upstream connection failed');
const question = (q: Partial<RetryQuestion>): RetryQuestion => ({
  outcome: 'connect-failure',
  attempt: 1,
  spec,
  method: 'GET',
  hasBody: false,
  fault: 'upstream',
  clientGone: false,
  nowMono: 0,
  deadline: 1000,
  ...q,
});
const ask = (q: Partial<RetryQuestion>): boolean => decideRetry(question(q), SEND) === 'retry';

describe('isIdempotent', () => {
  it('ok/GET HEAD OPTIONS PUT DELETE TRACE are idempotent', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']) expect(isIdempotent(m)).toBe(true);
  });
  it('error/POST PATCH CONNECT are not', () => {
    for (const m of ['POST', 'PATCH', 'CONNECT', 'get']) expect(isIdempotent(m)).toBe(false);
  });
});

describe('decideRetry', () => {
  it('ok/default on list retries connect-failure, reset, 502, 503, 504', () => {
    expect(ask({ outcome: 'connect-failure' })).toBe(true);
    expect(ask({ outcome: 'reset' })).toBe(true);
    for (const status of [502, 503, 504]) expect(ask({ outcome: 'http-5xx', status })).toBe(true);
  });

  it('error/timeout and 500 are not in the default on list', () => {
    expect(ask({ outcome: 'timeout' })).toBe(false);
    expect(ask({ outcome: 'http-5xx', status: 500 })).toBe(false);
    expect(ask({ outcome: 'http-5xx' })).toBe(false);
  });

  it('ok/timeout is retried when listed', () => {
    expect(ask({ outcome: 'timeout', spec: RetriesSpec.parse({ attempts: 1, on: ['timeout'] }) })).toBe(true);
  });

  it('error/ok is never retried, nor a route without retries', () => {
    expect(ask({ outcome: 'ok' })).toBe(false);
    expect(ask({ spec: undefined })).toBe(false);
  });

  it('ok/attempts counts retries: attempts 2 allows a third try, not a fourth', () => {
    expect(ask({ attempt: 1 })).toBe(true);
    expect(ask({ attempt: 2 })).toBe(true);
    expect(ask({ attempt: 3 })).toBe(false);
  });

  it('error/POST is not retried after a reset or a 503', () => {
    expect(ask({ method: 'POST', outcome: 'reset' })).toBe(false);
    expect(ask({ method: 'POST', outcome: 'http-5xx', status: 503 })).toBe(false);
  });

  it('ok/POST without a body is retried after a connect failure: the upstream never saw it', () => {
    expect(ask({ method: 'POST', outcome: 'connect-failure' })).toBe(true);
  });

  it('error/a request with a body is never retried, not even after a connect failure or with nonIdempotent', () => {
    expect(ask({ method: 'POST', outcome: 'connect-failure', hasBody: true })).toBe(false);
    expect(ask({ method: 'PUT', outcome: 'reset', hasBody: true })).toBe(false);
    expect(ask({ method: 'POST', outcome: 'reset', hasBody: true, spec: RetriesSpec.parse({ attempts: 1, nonIdempotent: true }) })).toBe(false);
  });

  it('ok/nonIdempotent lets POST retry after a reset', () => {
    expect(ask({ method: 'POST', outcome: 'reset', spec: RetriesSpec.parse({ attempts: 1, nonIdempotent: true }) })).toBe(true);
  });

  it('ok/a compiled policy with on as a set works the same', () => {
    const compiled = { attempts: 1, on: new Set(['reset']), nonIdempotent: false };
    expect(ask({ outcome: 'reset', spec: compiled })).toBe(true);
    expect(ask({ outcome: 'connect-failure', spec: compiled })).toBe(false);
  });

  it('error/a client that left, or a failure that was not the upstream, is never retried', () => {
    expect(ask({ clientGone: true })).toBe(false);
    expect(ask({ fault: 'client' })).toBe(false);
    expect(ask({ fault: 'gateway' })).toBe(false);
  });

  it('error/no retry once the deadline passed', () => {
    expect(ask({ nowMono: 999 })).toBe(true);
    expect(ask({ nowMono: 1000 })).toBe(false);
  });

  it('ok/a refusal returns the error to send, unchanged', () => {
    expect(decideRetry(question({ outcome: 'timeout' }), SEND)).toBe(SEND);
  });

  it('error/a spent budget stops retries, and a refused retry takes no token', () => {
    const clock = new ManualClock(0);
    const budget = createRetryBudget({ clock, ratio: 0, minPerSecond: 0.1, windowMs: 10_000 });
    expect(ask({ budget })).toBe(true);
    expect(ask({ budget })).toBe(false);
    expect(ask({ budget, outcome: 'ok' })).toBe(false);
    clock.advance(10_000);
    expect(budget.available()).toBe(1);
    expect(ask({ budget, attempt: 3 })).toBe(false);
    expect(ask({ budget, clientGone: true })).toBe(false);
    expect(ask({ budget, hasBody: true })).toBe(false);
    expect(budget.available()).toBe(1);
  });
});

describe('retryAllowed (asked before a listed 5xx is forwarded)', () => {
  it('ok/a listed 503 on a GET with tries left is held back for a retry', () => {
    expect(retryAllowed({ outcome: 'http-5xx', status: 503, attempt: 1, spec, method: 'GET', hasBody: false })).toBe(true);
  });
  it('error/a 503 on the last try, or on a request with a body, is forwarded', () => {
    expect(retryAllowed({ outcome: 'http-5xx', status: 503, attempt: 3, spec, method: 'GET', hasBody: false })).toBe(false);
    expect(retryAllowed({ outcome: 'http-5xx', status: 503, attempt: 1, spec, method: 'PUT', hasBody: true })).toBe(false);
  });
});
