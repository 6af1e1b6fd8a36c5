import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { STATUS, GatewayError, errorBody, renderError, type ErrorCode } from '../src/core/errors.js';

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

  it('ok/every code in STATUS is documented in docs/errors.md', () => {
    const documented = new Set([...doc.matchAll(/^\| ([A-Z_]+) \| \d{3} \|/gm)].map((m) => m[1]));
    expect(Object.keys(STATUS).filter((c) => !documented.has(c))).toEqual([]);
  });

  it('ok/renderError produces every documented code with its documented status, from a code or a GatewayError', () => {
    const rows = [...doc.matchAll(/^\| ([A-Z_]+) \| (\d{3}) \|/gm)].map((m) => [m[1] as ErrorCode, Number(m[2])] as const);
    expect(rows.length).toBeGreaterThan(10);
    for (const [code, status] of rows) {
      for (const r of [renderError(code, 'rid'), renderError(new GatewayError(code, 'm'), 'rid')]) {
        expect([r.code, r.status]).toEqual([code, status]);
        expect(JSON.parse(r.body).error.code).toBe(code);
        expect(r.headers['content-type']).toBe('application/json');
        expect(r.headers['content-length']).toBe(String(Buffer.byteLength(r.body)));
        expect(r.headers['x-request-id']).toBe('rid');
      }
    }
  });

  it('ok/renderError keeps the error\'s headers and a message override', () => {
    const r = renderError(new GatewayError('RATE_LIMITED', 'slow down', { headers: { 'retry-after': '3' } }), 'x', 'custom');
    expect(r.headers['retry-after']).toBe('3');
    expect(JSON.parse(r.body)).toEqual({ error: { code: 'RATE_LIMITED', message: 'custom', requestId: 'x' } });
  });
});
