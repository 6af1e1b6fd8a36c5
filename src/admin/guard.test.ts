import { describe, expect, it } from 'vitest';
import { compileAdminHostPolicy, crossOriginRefusal, hostName, isAdminHostAllowed } from './guard.js';

describe('admin guard', () => {
  it('ok/hostName strips ports and IPv6 brackets; error/malformed is undefined', () => {
    expect(hostName('LocalHost:9901')).toBe('localhost');
    expect(hostName('[::1]:9901')).toBe('::1');
    expect(hostName('[::1')).toBeUndefined();
    expect(hostName('a:b:c')).toBeUndefined();
    expect(hostName(undefined)).toBeUndefined();
  });

  it('ok/loopback, IP literals, admin.host and allowedHosts; error/other names and a missing Host', () => {
    const p = compileAdminHostPolicy('admin.example', ['ops.internal']);
    for (const h of ['localhost', 'x.localhost:1', '127.0.0.1', '127.9.9.9:80', '[::1]', '10.0.0.7', 'admin.example:9901', 'OPS.internal']) {
      expect(isAdminHostAllowed(p, h), h).toBe(true);
    }
    for (const h of ['evil.example', 'localhost.evil.example', '127.0.0.1.nip.io', '', undefined]) expect(isAdminHostAllowed(p, h), String(h)).toBe(false);
    expect(compileAdminHostPolicy('0.0.0.0').names.size).toBe(0);
  });

  it('error/cross-origin state changes are refused; ok/reads, curl and same-origin pass', () => {
    const host = '127.0.0.1:9901';
    expect(crossOriginRefusal('POST', { host, origin: 'https://evil.example' })).toBe('foreign Origin');
    expect(crossOriginRefusal('DELETE', { host, 'sec-fetch-site': 'cross-site' })).toMatch(/cross-site/);
    expect(crossOriginRefusal('POST', { host, 'sec-fetch-site': 'same-site' })).toMatch(/same-site/);
    expect(crossOriginRefusal('POST', { host, 'content-type': 'Text/Plain; charset=utf-8' })).toMatch(/text\/plain/);
    expect(crossOriginRefusal('POST', { host })).toBeUndefined();
    expect(crossOriginRefusal('POST', { host, origin: `http://${host}`, 'content-type': 'application/json' })).toBeUndefined();
    expect(crossOriginRefusal('GET', { host, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })).toBeUndefined();
  });
});
