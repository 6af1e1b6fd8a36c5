/**
 * Issue 16: `check` refuses listeners that `start` could not bind together (EADDRINUSE), and the new
 * client-address keys are checked with their YAML paths.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeConfigText, formatIssue } from '../../src/config/validate.js';
import { runCli } from '../support/cli.js';

const problemsOf = (yaml: string): string[] => analyzeConfigText(yaml, '/').problems.map((p) => formatIssue(p).replace(/^\S+:\d+:\d+ /, ''));

describe('check: port clashes and client-address keys', () => {
  it.each([
    ['admin on listen port, same host', 'listen: { host: 127.0.0.1, port: 9000 }\nadmin: { host: 127.0.0.1, port: 9000 }\n', 'admin.port: port 9000 is already taken by listen.port'],
    ['admin on a loopback port the 0.0.0.0 listener holds', 'listen: { port: 9000 }\nadmin: { port: 9000 }\n', 'admin.port: port 9000 is already taken by listen.port'],
    ['redirect on the listen port', 'listen: { port: 9000 }\nredirectHttp: { port: 9000 }\n', 'redirectHttp.port: port 9000 is already taken by listen.port'],
    ['redirect on the admin port', 'listen: { host: 127.0.0.1, port: 9000 }\nadmin: { host: "::", port: 9100 }\nredirectHttp: { port: 9100 }\n', 'redirectHttp.port: port 9100 is already taken by admin.port'],
  ])('error/%s', (_name, yaml, expected) => {
    expect(problemsOf(yaml).join('\n')).toContain(expected);
  });

  it.each([
    ['different ports', 'listen: { port: 9000 }\nadmin: { port: 9001 }\nredirectHttp: { port: 9002 }\n'],
    ['same port on hosts that do not overlap', 'listen: { host: 127.0.0.1, port: 9000 }\nadmin: { host: 127.0.0.2, port: 9000 }\n'],
    ['IPv4 wildcard and an IPv6 host', 'listen: { host: 0.0.0.0, port: 9000 }\nadmin: { host: "::1", port: 9000 }\n'],
    ['port 0 (any free port) twice', 'listen: { port: 0 }\nadmin: { port: 0 }\n'],
  ])('ok/%s', (_name, yaml) => {
    expect(problemsOf(yaml)).toEqual([]);
  });

  it('error/bad ipAccess entries are named by YAML path', () => {
    const yaml = [
      'routes:',
      '  - name: a',
      '    match: { pathPrefix: /a }',
      '    upstream: up',
      '    ipAccess: { allow: [10.0.0.0/33], deny: [nonsense] }',
      'upstreams:',
      '  up: { targets: [{ url: "http://127.0.0.1:3001" }] }',
    ].join('\n');
    expect(problemsOf(yaml)).toEqual([
      'routes[0].ipAccess.allow[0]: expected an IP address or CIDR like 10.0.0.0/8',
      'routes[0].ipAccess.deny[0]: expected an IP address or CIDR like 10.0.0.0/8',
    ]);
  });

  it('ok/proxyProtocol without trustedProxies is a warning naming listen.proxyProtocol', () => {
    const a = analyzeConfigText('listen: { proxyProtocol: true }\n', '/');
    expect(a.problems).toEqual([]);
    expect(a.warnings.map((w) => formatIssue(w).replace(/^\S+:\d+:\d+ /, ''))).toEqual([
      'listen.proxyProtocol: no trustedProxies: every connection will be refused (only trusted peers may send a PROXY header)',
    ]);
    expect(analyzeConfigText('listen: { proxyProtocol: true }\ntrustedProxies: [10.0.0.0/8]\n', '/').warnings).toEqual([]);
  });

  describe('through the CLI', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tollgate-check-ports-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    it('error/a redirect port clashing with the listener exits 1 naming redirectHttp.port', async () => {
      const path = join(dir, 'clash.yaml');
      await writeFile(path, 'listen: { port: 9443 }\nredirectHttp: { port: 9443 }\n');
      const r = await runCli(['check', '--config', path]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/redirectHttp\.port: port 9443 is already taken by listen\.port/);
    });
  });
});
