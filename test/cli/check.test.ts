import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';

describe('tollgate check', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-check-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/a valid config exits 0 with a one-line summary', async () => {
    const path = join(dir, 'ok.yaml');
    await writeFile(path, 'routes:\n  - name: a\n    match: { pathPrefix: /a }\n    upstream: up\nupstreams:\n  up:\n    targets: [{ url: "http://127.0.0.1:3001" }]\n');
    const r = await runCli(['check', '--config', path]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toContain('1 route(s), 1 upstream(s)');
  });

  it('error/five different problems print five lines, each once, with path and line:column, in file order (exit 1)', async () => {
    const path = join(dir, 'five.yaml');
    await writeFile(
      path,
      [
        'tls:',
        '  clientCAs: [{ file: missing-ca.pem, trustDomains: [partner.example] }]',
        'routes:',
        '  - name: a',
        '    match: { pathPrefix: /a }',
        '    upstream: missing',
        '  - name: b',
        '    match: { pathPrefix: /b }',
        '    stripPrefx: true',
        '    upstream: up',
        '  - name: c',
        '    match: { pathPrefix: /c }',
        '    upstream: up',
        '    rateLimit: { rate: 5, per: often }',
        '  - name: d',
        '    match: { pathPrefix: /d }',
        '    upstreams: [{ name: up, weight: 0 }]',
        'upstreams:',
        '  up:',
        '    targets: [{ url: "http://127.0.0.1:3001" }]',
        '',
      ].join('\n'),
    );
    const r = await runCli(['check', '--config', path]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      `${path}:2:17 tls.clientCAs[0].file: file missing-ca.pem not found`,
      `${path}:6:5 routes[0].upstream: unknown upstream "missing"`,
      `${path}:9:5 routes[1].stripPrefx: unknown key`,
      `${path}:14:27 routes[2].rateLimit.per: expected a duration like "1s"`,
      `${path}:17:5 routes[3].upstreams: at least one weight must be greater than zero`,
    ]);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });

  it('error/problems and warnings come together in file order; a YAML syntax error has a position', async () => {
    const path = join(dir, 'mixed.yaml');
    await writeFile(
      path,
      'routes:\n  - { name: a, match: { pathPrefix: /a }, upstream: nope, timeout: soon }\nupstreams:\n  up: { hashBy: ip, targets: [{ url: "http://127.0.0.1:3001" }] }\n',
    );
    const r = await runCli(['check', '--config', path]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/:2:\d+ routes\[0\]\.upstream: unknown upstream "nope"$/);
    expect(lines[1]).toMatch(/:2:\d+ routes\[0\]\.timeout: expected a duration like "1s"$/);
    expect(lines[2]).toBe(`warning: ${path}:4:3 upstreams.up: unused upstream (no route refers to it)`);
    expect(lines[3]).toBe(`warning: ${path}:4:9 upstreams.up.hashBy: only used with balance: consistent-hash`);

    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'routes:\n  - name: a\n   match: x\n');
    const b = await runCli(['check', '--config', broken]);
    expect(b.code).toBe(1);
    expect(b.stderr.startsWith(`${broken}:`)).toBe(true);
    expect(b.stderr).toMatch(/^\S+:\d+:\d+ YAML syntax error: \S/);
  });

  it('error/start refuses the same problems in the same form', async () => {
    const path = join(dir, 'start-bad.yaml');
    await writeFile(path, 'routes:\n  - name: a\n    match: { pathPrefix: /a }\n    upstream: missing\n    stripPrefx: true\n');
    const r = await runCli(['start', '--config', path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${path}:4:5 routes[0].upstream: unknown upstream "missing"`);
    expect(r.stderr).toContain(`${path}:5:5 routes[0].stripPrefx: unknown key`);
  });

  it('error/reference problems: dangling upstream and duplicate names', async () => {
    const path = join(dir, 'refs.yaml');
    await writeFile(path, 'routes:\n  - { name: a, match: { pathPrefix: /a }, upstream: missing }\n  - { name: a, match: { pathPrefix: /b }, upstream: up }\nupstreams:\n  up: { targets: [{ url: "http://127.0.0.1:3001" }] }\n');
    const r = await runCli(['check', '--config', path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${path}:2:43 routes[0].upstream: unknown upstream "missing"`);
    expect(r.stderr).toContain(`${path}:3:7 routes[1].name: duplicate route name "a"`);
  });

  it('ok/warnings for shadowed routes and unused upstreams still exit 0', async () => {
    const path = join(dir, 'warn.yaml');
    await writeFile(
      path,
      'routes:\n  - { name: a, match: { pathPrefix: /a }, upstream: up }\n  - { name: b, match: { pathPrefix: /a }, upstream: up }\nupstreams:\n  up: { targets: [{ url: "http://127.0.0.1:3001" }] }\n  spare: { targets: [{ url: "http://127.0.0.1:3002" }] }\n',
    );
    const r = await runCli(['check', '--config', path]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`warning: ${path}:3:5 routes[1]: route "b" is shadowed by route "a"`);
    expect(r.stderr).toContain(`warning: ${path}:6:3 upstreams.spare: unused upstream`);
  });

  it('error/unknown command and unknown option are usage errors (exit 2)', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(2);
    const r = await runCli(['check', '--confg', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('error/a missing config file is one clear sentence, exit 1', async () => {
    const r = await runCli(['check', '--config', join(dir, 'nope.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('config file not found');
  });
});
