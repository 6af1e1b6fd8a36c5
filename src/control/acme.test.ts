import { describe, expect, it } from 'vitest';
import { acmeRenewAt, storedIsUsable } from './acme.js';

const DAY = 86_400_000;
const from = new Date(Date.UTC(2026, 0, 1));
const to = new Date(from.getTime() + 90 * DAY);

describe('acmeRenewAt', () => {
  it('ok/renewal falls at 2/3 of the lifetime (day 60 of 90)', () => {
    expect(acmeRenewAt(from, to)).toBe(from.getTime() + 60 * DAY);
  });
});

describe('storedIsUsable', () => {
  const cert = { names: ['www.example.com', 'example.com'], notBefore: from, notAfter: to };
  it('ok/kept before renewal is due, names in any order and case', () => {
    expect(storedIsUsable(cert, ['Example.com', 'www.example.com'], from.getTime() + 59 * DAY)).toBe(true);
  });
  it('error/due at 2/3 of its lifetime: ordered again', () => {
    expect(storedIsUsable(cert, ['example.com', 'www.example.com'], from.getTime() + 60 * DAY)).toBe(false);
  });
  it('error/names changed in the config: ordered again', () => {
    expect(storedIsUsable(cert, ['example.com'], from.getTime())).toBe(false);
    expect(storedIsUsable(cert, ['example.com', 'www.example.com', 'api.example.com'], from.getTime())).toBe(false);
  });
});
