import { describe, expect, it } from 'vitest';
import { compileRedirect, redirectLocation } from './redirect.js';

describe('redirectLocation', () => {
  it('ok/scheme only keeps host, path and query', () => {
    const r = compileRedirect({ scheme: 'http', status: 301 }, undefined);
    expect(redirectLocation(r, 'a.example:8443', '/x/y', '?q=1')).toBe('http://a.example:8443/x/y?q=1');
  });

  it('ok/host and path replace; stripQuery drops the query', () => {
    const r = compileRedirect({ host: 'new.example', path: '/landing', stripQuery: true, status: 308 }, undefined);
    expect(redirectLocation(r, 'old.example', '/anything', '?q=1')).toBe('https://new.example/landing');
  });

  it('ok/prefix replaces the matched pathPrefix', () => {
    const r = compileRedirect({ prefix: '/v2', status: 302 }, '/v1/');
    expect(redirectLocation(r, 'h', '/v1/users/7', '')).toBe('https://h/v2/users/7');
    expect(redirectLocation(r, 'h', '/v1', '')).toBe('https://h/v2');
    const root = compileRedirect({ prefix: '/', status: 302 }, '/old');
    expect(redirectLocation(root, 'h', '/old/a', '')).toBe('https://h/a');
    expect(redirectLocation(root, 'h', '/old', '')).toBe('https://h/');
  });

  it('error/an authority that is not host[:port] is not put in a Location', () => {
    const r = compileRedirect({ status: 301 }, undefined);
    for (const bad of ['evil.com/x', 'user@evil.com', '', 'a b', 'evil.com\\@x']) expect(redirectLocation(r, bad, '/', ''), bad).toBeUndefined();
    expect(redirectLocation(r, '[::1]:8443', '/', '')).toBe('https://[::1]:8443/');
  });
});
