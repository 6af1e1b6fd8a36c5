/** Issue 16: config validation of header policy, rewrites, redirects, CORS and compression, with YAML paths. */
import { describe, expect, it } from 'vitest';
import { ConfigError, formatIssue, validateConfigText } from '../../src/config/validate.js';

const UP = `upstreams: { app: { targets: [{ url: "http://127.0.0.1:1" }] } }\n`;
const route = (extra: string, match = '{ pathPrefix: /api }', upstream = 'upstream: app, '): string => `routes: [{ name: r, match: ${match}, ${upstream}${extra} }]\n${UP}`;

function problems(yaml: string): string[] {
  try {
    validateConfigText(yaml, '/');
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map(formatIssue);
    throw err;
  }
  return [];
}

describe('header policy config', () => {
  it('ok/a full policy validates', () => {
    const v = validateConfigText(
      `headers: { response: { set: { strict-transport-security: "max-age=63072000" }, remove: [server, x-powered-by] } }
compression: { enabled: true }
` + route('headers: { request: { set: { x-env: prod }, add: { x-tag: [a, b] }, remove: [cookie] } }, hostRewrite: "internal.svc:8080", rewrite: { prefix: /v2 }, cors: { origins: ["https://app.example.com"], credentials: true, maxAge: 10m }, compression: { level: 9 }'),
      '/',
    );
    expect(v.spec.routes[0]?.rewrite?.prefix).toBe('/v2');
    expect(v.spec.compression).toMatchObject({ enabled: true, minBytes: 1024, level: 5 });
  });

  it.each([
    ['x-forwarded-for', 'set'],
    ['X-Forwarded-Client-Cert', 'set'],
    ['forwarded', 'add'],
    ['x-request-id', 'set'],
    ['host', 'set'],
    ['content-length', 'add'],
    ['transfer-encoding', 'set'],
  ])('error/request policy may not touch %s (%s), reported at its path', (name, op) => {
    const p = problems(route(`headers: { request: { ${op}: { "${name}": v } } }`));
    expect(p.join('\n')).toContain(`routes[0].headers.request.${op}.${name}`);
  });

  it('error/removing an identity header is refused at its index; globally too', () => {
    expect(problems(route('headers: { request: { remove: [accept, x-forwarded-proto] } }')).join('\n')).toContain('routes[0].headers.request.remove[1]');
    expect(problems(`headers: { response: { remove: [x-request-id] } }\n${route('')}`).join('\n')).toContain('headers.response.remove[0]');
  });

  it('error/a value with CR/LF is refused', () => {
    expect(problems(route('headers: { response: { set: { x-a: "a\\r\\nset-cookie: x" } } }')).join('\n')).toContain('routes[0].headers.response.set.x-a');
  });

  it('error/CORS: * with credentials refused', () => {
    const p = problems(route('cors: { origins: ["https://a.example", "*"], credentials: true }')).join('\n');
    expect(p).toContain('routes[0].cors.origins[1]');
    expect(p).toContain('credentials');
    expect(problems(route('cors: { origins: ["https://a.example/path"] }')).join('\n')).toContain('routes[0].cors.origins[0]');
  });

  it('error/rewrite: one of prefix/regex, prefix needs pathPrefix, not with stripPrefix, unsafe patterns refused', () => {
    expect(problems(route('rewrite: { prefix: /a, regex: { pattern: x, substitution: y } }')).join('\n')).toContain('set exactly one of prefix, regex');
    expect(problems(route('rewrite: { prefix: /a }', '{ path: /x }')).join('\n')).toContain('routes[0].rewrite.prefix: needs match.pathPrefix');
    expect(problems(route('stripPrefix: true, rewrite: { prefix: /a }')).join('\n')).toContain('routes[0].rewrite');
    expect(problems(route('rewrite: { regex: { pattern: "(a+)+$", substitution: /x } }')).join('\n')).toContain('routes[0].rewrite.regex.pattern');
    expect(problems(route('rewrite: { regex: { pattern: "^/a", substitution: "/x?y=1" } }')).join('\n')).toContain('routes[0].rewrite.regex.substitution');
  });

  it('ok/a redirect route has no upstream; error/one with an upstream, or neither without redirect', () => {
    const v = validateConfigText(route('redirect: { scheme: https, status: 308 }', '{ pathPrefix: / }', ''), '/');
    expect(v.spec.routes[0]?.redirect?.status).toBe(308);
    expect(problems(route('redirect: { status: 301 }')).join('\n')).toContain('routes[0].redirect: a redirect route has no upstream');
    expect(problems(route('', '{ pathPrefix: / }', '')).join('\n')).toContain('set exactly one of upstream, upstreams');
    expect(problems(route('redirect: { status: 303 }', '{ pathPrefix: / }', '')).join('\n')).toContain('routes[0].redirect.status');
    expect(problems(route('hostRewrite: "a/b"')).join('\n')).toContain('routes[0].hostRewrite');
  });
});
