/** tls.certificates and tls.acme in the config: paths made absolute, unreadable files and http-01 without a plain listener refused. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatIssue, validateConfigText } from '../../src/config/validate.js';

const tail = `
routes: [{ name: r, match: { pathPrefix: / }, upstream: app }]
upstreams: { app: { targets: [{ url: "http://127.0.0.1:1" }] } }
`;
const dir = mkdtempSync(join(tmpdir(), 'tollgate-tls-certs-'));
for (const f of ['a.crt', 'a.key']) writeFileSync(join(dir, f), 'THROWAWAY: not read by validation\n');

function problems(text: string): string[] {
  try {
    validateConfigText(text, dir);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map(formatIssue);
    throw err;
  }
}

const acme = 'tls: { acme: { directory: "https://acme.example/dir", email: ops@example.test, names: [shop.example.test], storage: ./acme } }';

describe('tls.certificates and tls.acme', () => {
  it('ok/certificate paths and the ACME storage are made absolute; serverNames optional', () => {
    const v = validateConfigText(`tls: { certificates: [{ cert: ./a.crt, key: ./a.key }] }\n${tail}`, dir);
    expect(v.spec.tls.certificates).toEqual([{ cert: join(dir, 'a.crt'), key: join(dir, 'a.key') }]);
    const w = validateConfigText(`redirectHttp: { port: 8080 }\n${acme}\n${tail}`, dir);
    expect(w.spec.tls.acme).toMatchObject({ storage: join(dir, 'acme'), challenge: 'http-01' });
  });
  it('error/an unreadable certificate file names its YAML path', () => {
    expect(problems(`tls: { certificates: [{ cert: ./a.crt, key: ./missing.key }] }\n${tail}`).join('\n')).toContain('tls.certificates[0].key');
  });
  it('error/ACME http-01 without redirectHttp is refused', () => {
    expect(problems(`${acme}\n${tail}`).join('\n')).toContain('tls.acme: http-01 needs redirectHttp');
  });
  it('ok/tls-alpn-01 needs no redirectHttp; an unknown challenge is refused', () => {
    expect(problems(`${acme.replace('storage: ./acme', 'challenge: tls-alpn-01')}\n${tail}`)).toEqual([]);
    expect(problems(`redirectHttp: { port: 8080 }\n${acme.replace('storage: ./acme', 'challenge: dns-01')}\n${tail}`).join('\n')).toContain('tls.acme.challenge');
  });
});
