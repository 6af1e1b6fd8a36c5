import { describe, expect, it } from 'vitest';
import { GatewayError } from '../core/errors.js';
import { ClientGoneError, RequestBodyError, RetryableStatusError, UpstreamTimeoutError, classifyUpstreamError, faultOf } from './classify.js';

const coded = (code: string): Error => Object.assign(new Error(code), { code });

describe('classifyUpstreamError', () => {
  it('ok/connect errors are connect-failure with 502, also one level into cause', () => {
    for (const err of [coded('ECONNREFUSED'), new Error('wrapped', { cause: coded('UND_ERR_CONNECT_TIMEOUT') })]) {
      const c = classifyUpstreamError(err);
      expect(c).toMatchObject({ outcome: 'connect-failure', source: 'upstream' });
      expect(c.error.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(c.error.cause).toBe(err);
    }
  });

  it('ok/timeouts are timeout with 504', () => {
    for (const err of [coded('UND_ERR_HEADERS_TIMEOUT'), new UpstreamTimeoutError('late')]) {
      const c = classifyUpstreamError(err);
      expect(c.outcome).toBe('timeout');
      expect(c.error.status).toBe(504);
    }
  });

  it('ok/unknown errors are a reset with 502', () => {
    const c = classifyUpstreamError(coded('ECONNRESET'));
    expect(c).toMatchObject({ outcome: 'reset', source: 'upstream' });
    expect(c.error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(classifyUpstreamError('not an error').outcome).toBe('reset');
  });

  it('ok/a discarded status is http-5xx; 504 becomes UPSTREAM_TIMEOUT, others UPSTREAM_UNAVAILABLE', () => {
    expect(classifyUpstreamError(new RetryableStatusError(503))).toMatchObject({ outcome: 'http-5xx', source: 'upstream' });
    expect(classifyUpstreamError(new RetryableStatusError(503)).error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(classifyUpstreamError(new RetryableStatusError(504)).error.code).toBe('UPSTREAM_TIMEOUT');
  });

  it('ok/a body over the limit is the client’s, sent as 413, also when undici wrapped it', () => {
    const tooLarge = new GatewayError('PAYLOAD_TOO_LARGE', 'too big');
    for (const err of [tooLarge, new Error('request body failed', { cause: tooLarge })]) {
      const c = classifyUpstreamError(err);
      expect(c.source).toBe('client');
      expect(c.error).toBe(tooLarge);
    }
  });

  it('ok/a broken request body and a client that left are the client’s', () => {
    expect(classifyUpstreamError(new RequestBodyError('aborted')).source).toBe('client');
    expect(classifyUpstreamError(new ClientGoneError()).source).toBe('client');
  });

  it('ok/the gateway’s own errors are the gateway’s', () => {
    const internal = new GatewayError('INTERNAL', 'oops');
    expect(classifyUpstreamError(internal)).toMatchObject({ source: 'gateway', error: internal });
  });
});

describe('faultOf', () => {
  it('ok/an upstream failure with the client present is the upstream’s', () => {
    for (const o of ['connect-failure', 'reset', 'timeout', 'http-5xx'] as const) expect(faultOf(o, false, 'upstream')).toBe('upstream');
  });
  it('error/a client that left makes any failure the client’s', () => {
    for (const o of ['connect-failure', 'reset', 'timeout', 'http-5xx'] as const) expect(faultOf(o, true, 'upstream')).toBe('client');
  });
  it('error/a timeout while the request body was still being sent is a slow upload: the client’s', () => {
    expect(faultOf('timeout', false, 'upstream', true)).toBe('client');
    expect(faultOf('reset', false, 'upstream', true)).toBe('upstream');
  });
  it('error/client and gateway sources are never the upstream’s', () => {
    expect(faultOf('reset', false, 'client')).toBe('client');
    expect(faultOf('reset', false, 'gateway')).toBe('gateway');
  });
});
