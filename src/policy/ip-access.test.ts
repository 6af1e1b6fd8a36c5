import { describe, expect, it } from 'vitest';
import { compileIpAccess } from './ip-access.js';

describe('compileIpAccess', () => {
  it('ok/deny only: everything else passes', () => {
    const ok = compileIpAccess({ allow: [], deny: ['203.0.113.0/24'] });
    expect(ok('203.0.113.9')).toBe(false);
    expect(ok('::ffff:203.0.113.9')).toBe(false);
    expect(ok('198.51.100.1')).toBe(true);
  });
  it('ok/allow list: only listed addresses pass', () => {
    const ok = compileIpAccess({ allow: ['10.0.0.0/8', '2001:db8::/32'], deny: [] });
    expect(ok('10.2.3.4')).toBe(true);
    expect(ok('2001:db8::1')).toBe(true);
    expect(ok('11.0.0.1')).toBe(false);
    expect(ok('')).toBe(false);
  });
  it('error/deny wins over allow', () => {
    const ok = compileIpAccess({ allow: ['10.0.0.0/8'], deny: ['10.6.6.6'] });
    expect(ok('10.6.6.6')).toBe(false);
    expect(ok('10.6.6.7')).toBe(true);
  });
  it('error/a bad entry is named', () => {
    expect(() => compileIpAccess({ allow: ['10.0.0.0/33'], deny: [] }, 'routes[0].ipAccess')).toThrow(/routes\[0\]\.ipAccess\.allow: "10\.0\.0\.0\/33"/);
  });
});
