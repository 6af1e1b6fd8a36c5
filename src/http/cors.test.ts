import { describe, expect, it } from 'vitest';
import { applyActualCors, compileCors, isPreflight, originAllowed, preflightHeaders, type CorsSpec } from './cors.js';

const base: CorsSpec = { origins: ['https://app.example.com', 'https://*.example.org'], methods: ['GET', 'PUT'], headers: ['X-Token', 'content-type'], exposeHeaders: ['x-total'], credentials: true, maxAgeSeconds: 600 };

describe('cors', () => {
  const cors = compileCors(base);

  it('ok/exact and wildcard origins, case-insensitive; the bare domain is not a subdomain', () => {
    expect(originAllowed(cors, 'https://app.example.com')).toBe(true);
    expect(originAllowed(cors, 'HTTPS://APP.EXAMPLE.COM')).toBe(true);
    expect(originAllowed(cors, 'https://a.b.example.org')).toBe(true);
    expect(originAllowed(cors, 'https://example.org')).toBe(false);
    expect(originAllowed(cors, 'http://a.example.org')).toBe(false);
    expect(originAllowed(cors, 'https://evil.com/.example.org')).toBe(false);
    expect(originAllowed(cors, 'https://app.example.com.evil.com')).toBe(false);
    expect(originAllowed(cors, 'null')).toBe(false);
  });

  it('ok/a preflight is OPTIONS with Origin and Access-Control-Request-Method', () => {
    expect(isPreflight('OPTIONS', 'https://a', 'PUT')).toBe(true);
    expect(isPreflight('OPTIONS', 'https://a', undefined)).toBe(false);
    expect(isPreflight('GET', 'https://a', 'PUT')).toBe(false);
  });

  it('ok/allowed preflight: echoed origin, methods, headers, credentials, max-age, Vary', () => {
    expect(preflightHeaders(cors, 'https://app.example.com', 'PUT', 'x-token, Content-Type')).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': 'GET, PUT',
      'access-control-allow-headers': 'x-token, content-type',
      'access-control-allow-credentials': 'true',
      'access-control-max-age': '600',
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    });
  });

  it('error/preflight refused for an unknown origin, method or header', () => {
    expect(preflightHeaders(cors, 'https://evil.com', 'PUT', undefined)).toBeUndefined();
    expect(preflightHeaders(cors, 'https://app.example.com', 'DELETE', undefined)).toBeUndefined();
    expect(preflightHeaders(cors, 'https://app.example.com', 'PUT', 'x-token, x-other')).toBeUndefined();
  });

  it('ok/any origin without credentials answers *; headers * echoes what was asked', () => {
    const open = compileCors({ ...base, origins: ['*'], headers: ['*'], credentials: false, maxAgeSeconds: undefined });
    const h = preflightHeaders(open, 'https://x.test', 'GET', 'x-a,x-b');
    expect(h?.['access-control-allow-origin']).toBe('*');
    expect(h?.['access-control-allow-headers']).toBe('x-a, x-b');
    expect(h?.['access-control-max-age']).toBeUndefined();
    expect(h?.['access-control-allow-credentials']).toBeUndefined();
  });

  it('ok/actual response: upstream CORS headers replaced, Vary: Origin always, origin echoed only when allowed', () => {
    const h: Record<string, string | string[]> = { 'access-control-allow-origin': '*', vary: 'Accept' };
    applyActualCors(h, cors, 'https://app.example.com');
    expect(h).toEqual({
      vary: 'Accept, Origin',
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-total',
    });
    const denied: Record<string, string | string[]> = { 'access-control-allow-origin': '*' };
    applyActualCors(denied, cors, 'https://evil.com');
    expect(denied).toEqual({ vary: 'Origin' });
  });
});
