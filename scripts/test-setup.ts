/**
 * `npm test`'s first step: make sure the programs the tests drive are installed (redis-server, openssl,
 * chromium for the admin console's browser test, pebble + dnsmasq for the ACME test).
 * As root on Debian/Ubuntu it installs what is missing with apt-get; anywhere else it stops at once with one
 * sentence naming what to install (exit 1), instead of letting test files fail one by one.
 * Run: node --import tsx scripts/test-setup.ts  (TOLLGATE_TEST_NO_INSTALL=1: never install, only report).
 */
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

/** Programs the test suite needs, with the Debian package that provides each. */
export const NEEDED: readonly { command: string; pkg: string }[] = [
  { command: 'redis-server', pkg: 'redis-server' },
  { command: 'openssl', pkg: 'openssl' },
  // test/admin/console.browser.test.ts drives it with playwright-core (executablePath /usr/bin/chromium).
  { command: 'chromium', pkg: 'chromium' },
  // The ACME test's CA and its DNS (test/support/pebble.ts).
  { command: 'pebble', pkg: 'pebble' },
  { command: 'dnsmasq', pkg: 'dnsmasq' },
];

export interface SetupEnv {
  /** Whether `command` is on PATH. */
  readonly has: (command: string) => boolean;
  /** Effective uid (undefined where the platform has none). */
  readonly uid: number | undefined;
  readonly platform: NodeJS.Platform;
  /** TOLLGATE_TEST_NO_INSTALL set: report, never install. */
  readonly noInstall?: boolean;
}

export type SetupPlan =
  | { readonly action: 'ok' }
  | { readonly action: 'install'; readonly packages: readonly string[]; readonly commands: readonly (readonly string[])[] }
  | { readonly action: 'fail'; readonly message: string };

/** The one sentence printed when the setup cannot install what is missing. */
export function missingMessage(packages: readonly string[], why: string): string {
  const list = packages.join(' and ');
  return `tollgate's tests need ${list} (${why}): install ${packages.length > 1 ? 'them' : 'it'} (Debian/Ubuntu: apt-get install -y ${packages.join(' ')}) and run npm test again.`;
}

/** Decides what to do; pure, so it is tested with an injected environment. */
export function planSetup(env: SetupEnv): SetupPlan {
  const missing = NEEDED.filter((n) => !env.has(n.command)).map((n) => n.pkg);
  if (missing.length === 0) return { action: 'ok' };
  let why: string | undefined;
  if (env.noInstall) why = 'TOLLGATE_TEST_NO_INSTALL is set';
  else if (env.platform !== 'linux' || !env.has('apt-get')) why = 'not found, and there is no apt-get here to install them';
  else if (env.uid !== 0) why = 'not found, and only root may install them';
  if (why !== undefined) return { action: 'fail', message: missingMessage(missing, why) };
  return {
    action: 'install',
    packages: missing,
    commands: [
      ['apt-get', 'update'],
      ['apt-get', 'install', '-y', '--no-install-recommends', ...missing],
    ],
  };
}

function onPath(command: string): boolean {
  // dnsmasq lives in /usr/sbin, which a non-root PATH often lacks.
  return spawnSync('sh', ['-c', `command -v ${command} || test -x /usr/sbin/${command}`], { stdio: 'ignore' }).status === 0;
}

/** Runs the plan; returns the exit code. */
export function runSetup(): number {
  const env: SetupEnv = {
    has: onPath,
    uid: process.getuid?.(),
    platform: process.platform,
    noInstall: process.env.TOLLGATE_TEST_NO_INSTALL === '1',
  };
  const plan = planSetup(env);
  if (plan.action === 'ok') return 0;
  if (plan.action === 'fail') {
    process.stderr.write(`${plan.message}\n`);
    return 1;
  }
  process.stderr.write(`test setup: installing ${plan.packages.join(', ')} with apt-get\n`);
  for (const cmd of plan.commands) {
    const [file, ...args] = cmd;
    const r = spawnSync(file ?? 'false', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      process.stderr.write(`${missingMessage(plan.packages, `"${cmd.join(' ')}" failed`)}\n`);
      return 1;
    }
  }
  const after = planSetup({ ...env, noInstall: true });
  if (after.action === 'fail') {
    process.stderr.write(`${after.message}\n`);
    return 1;
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = runSetup();
