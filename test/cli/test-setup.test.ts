import { describe, expect, it } from 'vitest';
import { planSetup, type SetupEnv } from '../../scripts/test-setup.js';

const env = (installed: string[], over: Partial<SetupEnv> = {}): SetupEnv => ({
  has: (c) => installed.includes(c),
  uid: 0,
  platform: 'linux',
  ...over,
});

/** The ACME test's CA and its DNS. */
const ACME = ['pebble', 'dnsmasq'];

describe('test setup (npm test first step)', () => {
  it('ok/nothing to do when redis-server, openssl, chromium, pebble and dnsmasq are installed, even as non-root', () => {
    expect(planSetup(env(['redis-server', 'openssl', 'chromium', ...ACME], { uid: 1000 }))).toEqual({ action: 'ok' });
    expect(planSetup(env(['redis-server', 'openssl', 'chromium', ...ACME], { platform: 'darwin' }))).toEqual({ action: 'ok' });
  });

  it('ok/as root a missing chromium (the console browser test) is installed with apt-get; error/non-root names it', () => {
    const plan = planSetup(env(['apt-get', 'openssl', 'redis-server', ...ACME]));
    expect(plan.action === 'install' && plan.commands[1]).toEqual(['apt-get', 'install', '-y', '--no-install-recommends', 'chromium']);
    const refused = planSetup(env(['apt-get', 'openssl', 'redis-server', ...ACME], { uid: 1000 }));
    expect(refused.action === 'fail' && refused.message).toMatch(/need chromium .*apt-get install -y chromium\) and run npm test again\.$/);
  });

  it('ok/as root with apt-get: apt-get update, then install exactly what is missing', () => {
    const plan = planSetup(env(['apt-get', 'openssl', 'chromium', ...ACME]));
    expect(plan).toEqual({
      action: 'install',
      packages: ['redis-server'],
      commands: [
        ['apt-get', 'update'],
        ['apt-get', 'install', '-y', '--no-install-recommends', 'redis-server'],
      ],
    });
    const all = planSetup(env(['apt-get']));
    expect(all.action === 'install' && all.packages).toEqual(['redis-server', 'openssl', 'chromium', 'pebble', 'dnsmasq']);
    const acmeOnly = planSetup(env(['apt-get', 'redis-server', 'openssl', 'chromium']));
    expect(acmeOnly.action === 'install' && acmeOnly.packages).toEqual(['pebble', 'dnsmasq']);
  });

  it('error/non-root: one sentence naming what to install, no install attempted', () => {
    const plan = planSetup(env(['apt-get', 'openssl', 'chromium', ...ACME], { uid: 1000 }));
    expect(plan.action).toBe('fail');
    const message = plan.action === 'fail' ? plan.message : '';
    expect(message).toContain('redis-server');
    expect(message).not.toContain('openssl');
    expect(message).toContain('only root');
    expect(message.split('\n')).toHaveLength(1);
    expect(message.match(/\.\s/g)).toBeNull(); // one sentence
  });

  it('error/no apt-get or not Linux: stops with what to install', () => {
    for (const e of [env(['openssl']), env(['apt-get', 'openssl'], { platform: 'darwin' }), env(['apt-get'], { noInstall: true })]) {
      const plan = planSetup(e);
      expect(plan.action).toBe('fail');
      expect(plan.action === 'fail' && plan.message).toMatch(/install .*redis-server/);
    }
  });
});
