import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { STATUS, GatewayError, errorBody } from '../src/core/errors.js';

const doc = readFileSync(fileURLToPath(new URL('../docs/errors.md', import.meta.url)), 'utf8');

describe('error codes', () => {
  it('ok/docs/errors.md lists exactly the codes of STATUS, with the same statuses', () => {
    const rows = [...doc.matchAll(/^\| ([A-Z_]+) \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])] as const);
    expect(Object.fromEntries(rows)).toEqual(STATUS);
  });

  it('ok/a GatewayError takes its status from the code', () => {
    const err = new GatewayError('RATE_LIMITED', 'Rate limit exceeded', { headers: { 'retry-after': '2' } });
    expect(err.status).toBe(429);
    expect(err.headers['retry-after']).toBe('2');
  });

  it('ok/the wire body has code, message and requestId only', () => {
    expect(JSON.parse(errorBody('NO_ROUTE', 'No route', 'abc'))).toEqual({ error: { code: 'NO_ROUTE', message: 'No route', requestId: 'abc' } });
  });
});
