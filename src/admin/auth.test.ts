import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bearerMatches, resolveAdminToken } from './auth.js';
import { adminTokenRequired } from './guard.js';

const TOKEN = 'a-long-enough-admin-token-0123';

describe('admin token', () => {
  it('ok/loopback hosts need no token; error/anything else (wildcards, LAN, names) needs one', () => {
    for (const h of ['127.0.0.1', '127.0.0.2', '::1', 'localhost', 'admin.localhost']) expect(adminTokenRequired(h), h).toBe(false);
    for (const h of ['0.0.0.0', '::', '10.0.0.7', '192.168.1.2', 'fe80::1', 'admin.example', '']) expect(adminTokenRequired(h), h).toBe(true);
  });

  it('error/a non-loopback admin without a token refuses to start; ok/with one from config, file or env it resolves', () => {
    expect(() => resolveAdminToken('0.0.0.0', { env: {} })).toThrow(/admin\.host 0\.0\.0\.0 is not loopback: set admin\.token, admin\.tokenFile or TOLLGATE_ADMIN_TOKEN/);
    expect(resolveAdminToken('127.0.0.1', { env: {} })).toBeUndefined();
    expect(resolveAdminToken('0.0.0.0', { token: TOKEN, env: {} })?.source).toBe('admin.token');
    expect(resolveAdminToken('0.0.0.0', { env: { TOLLGATE_ADMIN_TOKEN: TOKEN } })?.source).toBe('TOLLGATE_ADMIN_TOKEN');
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-token-'));
    try {
      const file = join(dir, 'token');
      writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
      const t = resolveAdminToken('10.0.0.7', { tokenFile: file, env: { TOLLGATE_ADMIN_TOKEN: 'ignored-when-a-key-is-set' } });
      expect(t?.source).toBe('admin.tokenFile');
      expect(t !== undefined && bearerMatches(t, `Bearer ${TOKEN}`)).toBe(true);
      expect(() => resolveAdminToken('127.0.0.1', { tokenFile: join(dir, 'missing') })).toThrow(/cannot be read \(ENOENT\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => resolveAdminToken('127.0.0.1', { token: 'short' })).toThrow(/shorter than 16/);
  });

  it('ok/bearer matching: scheme case-insensitive, exact token; error/anything else', () => {
    const t = resolveAdminToken('127.0.0.1', { token: TOKEN });
    if (t === undefined) throw new Error('no token');
    expect(bearerMatches(t, `Bearer ${TOKEN}`)).toBe(true);
    expect(bearerMatches(t, `bearer  ${TOKEN}`)).toBe(true);
    for (const h of [undefined, '', TOKEN, `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Bearer ${TOKEN} extra`]) expect(bearerMatches(t, h), String(h)).toBe(false);
    // Only a digest is held: the token itself is not kept on the object.
    expect(JSON.stringify(t)).not.toContain(TOKEN);
  });
});
