/**
 * Property tests (fast-check) for the path normaliser and stripPrefix. Fixed seed and run count in
 * `npm test`; FC_SEED / FC_RUNS run them longer or with another seed (docs/design.md "Property tests").
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { normalizePath } from './normalize-path.js';
import { RouteSpec } from '../spec/schema.js';
import { compileRoutes } from '../router/compile.js';
import { matchRoute } from '../router/match.js';
import { upstreamPath } from '../router/rewrite.js';

export const FC = { seed: Number(process.env.FC_SEED ?? 20261207), numRuns: Number(process.env.FC_RUNS ?? 3000) };

/** Pieces that attackers combine: dots, separators, their single and double encodings, params. */
const PIECES = ['/', '//', '.', '..', '%2e', '%2E', '%252e', '%252f', '%255c', '%25', '%2f', '%5c', '\\', ';', '..;', '.;', ';x=1', 'a', 'b', 'api', 'admin', '%41', '%7e', '%00', '%zz', '~', '-', '%2525', '%c3%a9', '?', '#', '%3b'];
const hostilePath = fc.array(fc.constantFrom(...PIECES), { maxLength: 12 }).map((parts) => `/${parts.join('')}`);
const anyPath = fc.oneof(hostilePath, fc.string({ maxLength: 40 }).map((s) => `/${s}`), fc.string({ maxLength: 40 }));

function decodeOnce(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

function assertCanonical(out: string): void {
  expect(out.startsWith('/')).toBe(true);
  expect(out).not.toContain('//');
  expect(out).not.toContain('\\');
  expect(out).not.toMatch(/%2f|%5c/i);
  // Even an upstream that decodes once, or twice, sees no dot segment and no new separator.
  for (const view of [out, decodeOnce(out), decodeOnce(decodeOnce(out))]) {
    const segs = view.split(/[/\\]/).slice(1);
    for (const s of segs) {
      const bare = s.split(';')[0];
      expect(bare === '.' || bare === '..').toBe(false);
    }
  }
  expect(decodeOnce(out)).not.toMatch(/%2f|%5c|\\/i);
  expect(normalizePath(out)).toBe(out); // idempotent
}

describe('normalizePath properties', () => {
  it('ok/for any input the result is canonical or undefined (400)', () => {
    fc.assert(
      fc.property(anyPath, (raw) => {
        const out = normalizePath(raw);
        if (out !== undefined) assertCanonical(out);
      }),
      FC,
    );
  });

  it('ok/stripPrefix results stay under the route prefix', () => {
    const prefix = fc.array(fc.constantFrom('api', 'v1', 'a.b', 'x'), { minLength: 1, maxLength: 3 }).map((p) => `/${p.join('/')}`);
    fc.assert(
      fc.property(prefix, hostilePath, (pre, rest) => {
        const table = compileRoutes([{ spec: RouteSpec.parse({ name: 'r', match: { pathPrefix: pre }, stripPrefix: true, upstream: 'u' }), value: 0 }]);
        const path = normalizePath(pre + rest);
        if (path === undefined) return;
        const m = matchRoute(table, { method: 'GET', host: 'h', path, header: () => undefined });
        if (m === undefined) {
          expect(path === pre || path.startsWith(`${pre}/`)).toBe(false);
          return;
        }
        const up = upstreamPath(m, path);
        assertCanonical(up);
        // Put back under the prefix, the upstream's view resolves inside it.
        const joined = normalizePath(pre + (up === '/' ? '' : up));
        expect(joined === pre || joined === `${pre}/` || (joined ?? '').startsWith(`${pre}/`)).toBe(true);
      }),
      FC,
    );
  });
});
