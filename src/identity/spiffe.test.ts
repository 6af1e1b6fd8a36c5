import { describe, expect, it } from 'vitest';
import { compileSpiffePattern, matchSpiffePattern, parseSpiffeId, parseWorkloadId, spiffeIdOf } from './spiffe.js';

describe('parseSpiffeId', () => {
  it.each([
    ['spiffe://tollgate.local/web', { trustDomain: 'tollgate.local', path: '/web' }],
    ['spiffe://td/ns/prod/sa/api-1_x.y', { trustDomain: 'td', path: '/ns/prod/sa/api-1_x.y' }],
    ['spiffe://td', { trustDomain: 'td', path: '' }],
  ])('ok/%s', (text, expected) => expect(parseSpiffeId(text)).toEqual(expected));

  it.each([
    'SPIFFE://td/x', 'spiffe://TD/x', 'spiffe://td/', 'spiffe://td//x', 'spiffe://td/x/', 'spiffe://td/./x',
    'spiffe://td/../x', 'spiffe://td:443/x', 'spiffe://u@td/x', 'spiffe://td/x?q', 'spiffe://td/x#f', 'spiffe:///x',
    'spiffe://td/x%2f', 'https://td/x', '',
  ])('error/%s', (text) => expect(parseSpiffeId(text)).toBeUndefined());

  it('ok/workload ids need a path and the trust domain', () => {
    expect(parseWorkloadId('spiffe://td')).toBeUndefined();
    expect(parseWorkloadId('spiffe://td/x', 'other')).toBeUndefined();
    expect(parseWorkloadId('spiffe://td/x', 'td')).toBeDefined();
    expect(spiffeIdOf('td', 'tollgate')).toBe('spiffe://td/tollgate');
  });

  it('ok/patterns', () => {
    const p = compileSpiffePattern('spiffe://td/ns/*');
    expect(matchSpiffePattern(p, 'spiffe://td/ns/a')).toBe(true);
    expect(matchSpiffePattern(p, 'spiffe://td/ns')).toBe(false);
    expect(matchSpiffePattern(compileSpiffePattern('spiffe://td/a'), 'spiffe://td/a')).toBe(true);
  });
});
