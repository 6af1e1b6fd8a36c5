import { describe, expect, it } from 'vitest';
import { connectionTokens, h2ForbiddenHeader, HOP_BY_HOP, isHopByHop, isWebSocketUpgrade, keepTe } from './hop-headers.js';

const plain = { keepUpgrade: false };

describe('connectionTokens', () => {
  it('ok/lists lower-cased names, trimmed, empties skipped', () => {
    expect([...(connectionTokens('Keep-Alive, X-Foo ,,\tx-bar') ?? [])]).toEqual(['keep-alive', 'x-foo', 'x-bar']);
  });

  it('ok/several header lines', () => {
    expect([...(connectionTokens(['close', 'X-A']) ?? [])]).toEqual(['close', 'x-a']);
  });

  it('ok/common values are shared', () => {
    expect(connectionTokens('keep-alive')).toBe(connectionTokens('Keep-Alive'));
    expect([...(connectionTokens('close') ?? [])]).toEqual(['close']);
  });

  it('ok/absent or empty gives undefined', () => {
    expect(connectionTokens(undefined)).toBeUndefined();
    expect(connectionTokens('')).toBeUndefined();
    expect(connectionTokens(' , ')).toBeUndefined();
  });
});

describe('keepTe', () => {
  it.each(['trailers', 'Trailers', ' trailers ', ['trailers']])('ok/keeps %j', (v) => {
    expect(keepTe(v)).toBe(true);
  });

  it.each([undefined, '', 'gzip', 'trailers, gzip', 'trailers;q=1', ['trailers', 'gzip']])('error/drops %j', (v) => {
    expect(keepTe(v)).toBe(false);
  });
});

describe('isWebSocketUpgrade', () => {
  it('ok/websocket in any case', () => {
    expect(isWebSocketUpgrade('websocket')).toBe(true);
    expect(isWebSocketUpgrade('WebSocket')).toBe(true);
  });

  it('error/other upgrades', () => {
    expect(isWebSocketUpgrade('h2c')).toBe(false);
    expect(isWebSocketUpgrade(undefined)).toBe(false);
  });
});

describe('isHopByHop', () => {
  it.each([...HOP_BY_HOP].filter((n) => n !== 'te'))('ok/drops %s', (name) => {
    expect(isHopByHop(name, undefined, plain)).toBe(true);
  });

  it('ok/drops any proxy-* header', () => {
    expect(isHopByHop('proxy-foo', undefined, plain)).toBe(true);
  });

  it('ok/drops headers named by Connection', () => {
    const tokens = connectionTokens('close, x-secret');
    expect(isHopByHop('x-secret', tokens, plain)).toBe(true);
    expect(isHopByHop('x-other', tokens, plain)).toBe(false);
  });

  it('ok/keeps end-to-end headers', () => {
    for (const name of ['content-type', 'authorization', 'trailers', 'x-request-id', 'grpc-timeout']) {
      expect(isHopByHop(name, undefined, plain)).toBe(false);
    }
  });

  it('ok/te kept only for exactly trailers, even when Connection names it', () => {
    const tokens = connectionTokens('TE');
    expect(isHopByHop('te', tokens, plain, 'trailers')).toBe(false);
    expect(isHopByHop('te', tokens, plain, 'gzip')).toBe(true);
    expect(isHopByHop('te', undefined, plain)).toBe(true);
  });

  it('ok/upgrade kept only when passing a WebSocket through', () => {
    const tokens = connectionTokens('Upgrade');
    expect(isHopByHop('upgrade', tokens, { keepUpgrade: true }, 'websocket')).toBe(false);
    expect(isHopByHop('upgrade', tokens, plain, 'websocket')).toBe(true);
    expect(isHopByHop('connection', tokens, { keepUpgrade: true }, 'Upgrade')).toBe(true);
  });
});

describe('h2ForbiddenHeader', () => {
  it.each(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'])('error/refuses %s', (name) => {
    expect(h2ForbiddenHeader(name, 'x')).toBe(true);
  });

  it('error/refuses te other than trailers', () => {
    expect(h2ForbiddenHeader('te', 'gzip')).toBe(true);
  });

  it('ok/allows te: trailers and ordinary headers', () => {
    expect(h2ForbiddenHeader('te', 'trailers')).toBe(false);
    expect(h2ForbiddenHeader('content-type', 'application/grpc')).toBe(false);
    expect(h2ForbiddenHeader('proxy-authorization', 'x')).toBe(false);
  });
});
