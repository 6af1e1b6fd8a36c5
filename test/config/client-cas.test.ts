/** tls.clientCAs entries: a bare path (no SPIFFE identity, warned) or { file, trustDomains }. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatIssue, validateConfigText } from '../../src/config/validate.js';

const base = (clientCAs: string): string => `
tls:
  clientCAs: ${clientCAs}
routes: [{ name: r, match: { pathPrefix: / }, upstream: app }]
upstreams: { app: { targets: [{ url: "http://127.0.0.1:1" }] } }
`;

// The files must exist: check and start refuse a config naming an unreadable file.
const dir = mkdtempSync(join(tmpdir(), 'tollgate-client-cas-'));
for (const f of ['corp.crt', 'p.crt']) writeFileSync(join(dir, f), 'THROWAWAY: not read by validation\n');

describe('tls.clientCAs', () => {
  it('ok/a bare path is accepted with the warning that it issues no SPIFFE identity; paths made absolute', () => {
    const v = validateConfigText(base('[./corp.crt]'), dir);
    expect(v.warnings.map(formatIssue)).toContainEqual(expect.stringContaining('tls.clientCAs[0]: issues no SPIFFE identity (no trustDomains)'));
    expect(v.spec.tls.clientCAs[0]).toBe(join(dir, 'corp.crt'));
  });
  it('ok/{ file, trustDomains } is accepted without that warning', () => {
    const v = validateConfigText(base('[{ file: ./p.crt, trustDomains: [partner.example] }]'), dir);
    expect(v.warnings.map(formatIssue).join('\n')).not.toContain('issues no SPIFFE identity');
    expect(v.spec.tls.clientCAs[0]).toEqual({ file: join(dir, 'p.crt'), trustDomains: ['partner.example'] });
  });
  it("error/naming the gateway's own trust domain is refused", () => {
    expect(() => validateConfigText(base('[{ file: ./p.crt, trustDomains: [tollgate.local] }]'), dir)).toThrow(ConfigError);
  });
});
