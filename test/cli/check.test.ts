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

  it('error/every problem is printed with its YAML path, exit 1', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(
      path,
      [
        'routes:',
        '  - name: a',
        '    match: { pathPrefix: /a }',
        '    upstream: missing',
        '  - name: a',
        '    match: { pathPrefix: /b }',
        '    stripPrefx: true',
        '    upstream: up',
        '  - name: c',
        '    match: { pathPrefix: /c }',
        '    upstream: up',
        '    rateLimit: { rate: 5, per: often }',
        'upstreams:',
        '  up:',
        '    targets: [{ url: "http://127.0.0.1:3001" }]',
      ].join('\n'),
    );
    const r = await runCli(['check', '--config', path]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toContain('routes[1].stripPrefx: unknown key');
    expect(lines).toContain('routes[2].rateLimit.per: expected a duration like "1s"');
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });

  it('error/reference problems: dangling upstream and duplicate names', async () => {
    const path = join(dir, 'refs.yaml');
    await writeFile(path, 'routes:\n  - { name: a, match: { pathPrefix: /a }, upstream: missing }\n  - { name: a, match: { pathPrefix: /b }, upstream: up }\nupstreams:\n  up: { targets: [{ url: "http://127.0.0.1:3001" }] }\n');
    const r = await runCli(['check', '--config', path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('routes[0].upstream: unknown upstream "missing"');
    expect(r.stderr).toContain('routes[1].name: duplicate route name "a"');
  });

  it('ok/warnings for shadowed routes and unused upstreams still exit 0', async () => {
    const path = join(dir, 'warn.yaml');
    await writeFile(
      path,
      'routes:\n  - { name: a, match: { pathPrefix: /a }, upstream: up }\n  - { name: b, match: { pathPrefix: /a }, upstream: up }\nupstreams:\n  up: { targets: [{ url: "http://127.0.0.1:3001" }] }\n  spare: { targets: [{ url: "http://127.0.0.1:3002" }] }\n',
    );
    const r = await runCli(['check', '--config', path]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warning: routes[1]: route "b" is shadowed by route "a"');
    expect(r.stderr).toContain('warning: upstreams.spare: unused upstream');
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
