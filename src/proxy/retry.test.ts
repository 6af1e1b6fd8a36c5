import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { RetriesSpec } from '../spec/schema.js';
import { createRetryBudget } from '../upstream/retry-budget.js';
import { isIdempotent, shouldRetry, type RetryQuestion } from './retry.js';

const spec = RetriesSpec.parse({ attempts: 2 });
const ask = (q: Partial<RetryQuestion>): boolean =>
  shouldRetry({ outcome: 'connect-failure', attempt: 1, spec, method: 'GET', ...q });

describe('isIdempotent', () => {
  it('ok/GET HEAD OPTIONS PUT DELETE TRACE are idempotent', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']) expect(isIdempotent(m)).toBe(true);
  });
  it('error/POST PATCH CONNECT are not', () => {
    for (const m of ['POST', 'PATCH', 'CONNECT', 'get']) expect(isIdempotent(m)).toBe(false);
  });
});

describe('shouldRetry', () => {
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

  it('error/ok is never retried', () => {
    expect(ask({ outcome: 'ok' })).toBe(false);
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

  it('ok/POST is retried after a connect failure: the upstream never saw it', () => {
    expect(ask({ method: 'POST', outcome: 'connect-failure' })).toBe(true);
  });

  it('ok/nonIdempotent lets POST retry after a reset', () => {
    expect(ask({ method: 'POST', outcome: 'reset', spec: RetriesSpec.parse({ attempts: 1, nonIdempotent: true }) })).toBe(true);
  });

  it('ok/a compiled policy with on as a set works the same', () => {
    const compiled = { attempts: 1, on: new Set(['reset']), nonIdempotent: false };
    expect(ask({ outcome: 'reset', spec: compiled })).toBe(true);
    expect(ask({ outcome: 'connect-failure', spec: compiled })).toBe(false);
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
    expect(budget.available()).toBe(1);
  });
});
