import { describe, expect, it } from 'vitest';
import { seededRandom } from '../core/random.js';
import { continueTraceparent, parseTraceparent } from './traceparent.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const SHAPE = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

function parts(tp: string): { trace: string; span: string; flags: string } {
  const [, trace, span, flags] = tp.split('-') as [string, string, string, string];
  return { trace, span, flags };
}

describe('continueTraceparent', () => {
  it('ok/continues a valid trace with a new span id and the same flags', () => {
    for (const flags of ['01', '00', '03']) {
      const out = continueTraceparent(`00-${TRACE}-${PARENT}-${flags}`, seededRandom(1));
      expect(out).toMatch(SHAPE);
      expect(parts(out).trace).toBe(TRACE);
      expect(parts(out).flags).toBe(flags);
      expect(parts(out).span).not.toBe(PARENT);
      expect(parts(out).span).not.toBe('0'.repeat(16));
    }
  });

  it('ok/later version parses as 00 and is sent as 00', () => {
    const out = continueTraceparent(`01-${TRACE}-${PARENT}-01-extra`, seededRandom(1));
    expect(out.startsWith(`00-${TRACE}-`)).toBe(true);
    expect(out.endsWith('-01')).toBe(true);
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['version ff', `ff-${TRACE}-${PARENT}-01`],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['upper-case flags', `00-${TRACE}-${PARENT}-0A`],
    ['zero trace-id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['zero parent-id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['short trace-id', `00-${TRACE.slice(1)}-${PARENT}-01`],
    ['version 00 with extra field', `00-${TRACE}-${PARENT}-01-x`],
    ['later version without dash after flags', `01-${TRACE}-${PARENT}-01x`],
    ['bad separators', `00_${TRACE}_${PARENT}_01`],
    ['non-hex', `00-${TRACE.slice(0, 31)}g-${PARENT}-01`],
  ])('ok/starts a new sampled trace when %s', (_why, value) => {
    const out = continueTraceparent(value, seededRandom(3));
    expect(out).toMatch(SHAPE);
    expect(parts(out).trace).not.toBe(TRACE);
    expect(parts(out).flags).toBe('01');
    expect(parts(out).trace).not.toBe('0'.repeat(32));
  });

  it('ok/never emits an all-zero id even if the random source does', () => {
    let calls = 0;
    const zerosFirst = { next: () => 0, hex: (bytes: number) => (calls++ < 2 ? '00'.repeat(bytes) : 'ab'.repeat(bytes)) };
    expect(continueTraceparent(undefined, zerosFirst)).toBe(`00-${'ab'.repeat(16)}-${'ab'.repeat(8)}-01`);
  });
});

describe('parseTraceparent', () => {
  it('ok/reads the fields of a valid value, by the same rules as continueTraceparent', () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-01`)).toEqual({ traceId: TRACE, parentId: PARENT, flags: 1, flagsHex: '01' });
    expect(parseTraceparent(`01-${TRACE}-${PARENT}-00-future`)).toEqual({ traceId: TRACE, parentId: PARENT, flags: 0, flagsHex: '00' });
    for (const bad of [`ff-${TRACE}-${PARENT}-01`, `00-${'0'.repeat(32)}-${PARENT}-01`, `00-${TRACE}-${PARENT}-01-x`, `00-${TRACE.toUpperCase()}-${PARENT}-01`, '']) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
  });
});
