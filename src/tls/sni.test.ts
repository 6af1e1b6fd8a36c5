import { describe, expect, it } from 'vitest';
import { certificateNames, compileSniTable, matchSni } from './sni.js';

const table = compileSniTable([
  { names: ['a.example.test', '*.wild.example.test'], value: 'A' },
  { names: ['B.Example.Test.'], value: 'B' },
  { names: ['exact.wild.example.test', 'a.example.test'], value: 'C' },
  { names: ['*.example.test'], value: 'D' },
]);

describe('matchSni', () => {
  it('ok/exact names, case-insensitive, trailing dot ignored', () => {
    expect(matchSni(table, 'a.example.test')).toBe('A');
    expect(matchSni(table, 'b.example.test')).toBe('B');
    expect(matchSni(table, 'A.EXAMPLE.TEST.')).toBe('A');
  });

  it('ok/an exact name beats a wildcard that also covers it', () => {
    expect(matchSni(table, 'exact.wild.example.test')).toBe('C');
    expect(matchSni(table, 'other.wild.example.test')).toBe('A');
  });

  it('ok/a name listed twice goes to the first entry', () => {
    expect(matchSni(table, 'a.example.test')).toBe('A');
  });

  it('ok/a wildcard covers exactly one label', () => {
    expect(matchSni(table, 'x.example.test')).toBe('D');
    expect(matchSni(table, 'example.test')).toBeUndefined();
    expect(matchSni(table, 'x.y.z.example.test')).toBeUndefined();
    expect(matchSni(table, 'wild.example.test')).toBe('D');
  });

  it('error/unknown, empty or missing SNI gives no match (the fallback)', () => {
    expect(matchSni(table, 'nope.invalid')).toBeUndefined();
    expect(matchSni(table, '')).toBeUndefined();
    expect(matchSni(table, undefined)).toBeUndefined();
    expect(matchSni(table, 'localhost')).toBeUndefined();
  });
});

describe('certificateNames', () => {
  it('ok/DNS and IP SANs in order', () => {
    expect(certificateNames('DNS:a.example.test, DNS:*.w.example.test, IP Address:127.0.0.1, URI:spiffe://td/x', 'CN=ignored')).toEqual([
      'a.example.test',
      '*.w.example.test',
      '127.0.0.1',
    ]);
  });

  it('ok/the subject CN only when there is no DNS or IP SAN', () => {
    expect(certificateNames(undefined, 'C=DE\nCN=cn.example.test')).toEqual(['cn.example.test']);
    expect(certificateNames('URI:spiffe://td/x', 'O=x')).toEqual([]);
  });
});
