import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { createAccessLog } from './access-log.js';
import { ManualClock } from '../core/clock.js';

function sink(): { lines: string[]; write(s: string): void } {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(...s.split('\n').filter((l) => l !== '')) };
}

const record = {
  requestId: 'r1',
  route: 'api',
  method: 'GET',
  path: '/a"b\\c\u0001',
  proto: 'h2' as const,
  status: 200,
  durationMs: 1.5,
  upstream: 'pool',
  target: 'http://127.0.0.1:1',
  attempts: 1,
  bytes: 10,
};

describe('access log', () => {
  it('ok/lines are valid JSON with the same envelope as pino lines, odd characters escaped', () => {
    const s = sink();
    const logger = createLogger({ destination: s });
    createAccessLog(logger, new ManualClock())({ ...record, code: 'X', err: { type: 'Error', message: 'm "q"' } });
    logger.info({ msg: 'other' });
    const [access, other] = s.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(access).toMatchObject({ level: 'info', service: 'tollgate', msg: 'request', ...record, code: 'X', err: { type: 'Error', message: 'm "q"' } });
    expect(Object.keys(access!).slice(0, 4)).toEqual(Object.keys(other!).slice(0, 4));
    expect(Date.parse(String(access!.time))).not.toBeNaN();
  });

  it('ok/time is the ISO time of the clock, across millisecond and second boundaries', () => {
    const s = sink();
    const clock = new ManualClock(1_764_990_000_998);
    const log = createAccessLog(createLogger({ destination: s }), clock);
    const expected: string[] = [];
    for (const step of [0, 0, 1, 1, 0.5, 998.5, 1000, 86_400_000]) {
      clock.advance(step);
      expected.push(new Date(Math.floor(clock.now())).toISOString());
      log(record);
    }
    expect(s.lines.map((l) => (JSON.parse(l) as { time: string }).time)).toEqual(expected);
  });

  it('ok/nothing is written when info is off', () => {
    const s = sink();
    createAccessLog(createLogger({ destination: s, level: 'warn' }), new ManualClock())({ ...record, route: null, upstream: null, target: null });
    expect(s.lines).toEqual([]);
  });

  const full = {
    ...record,
    client: '203.0.113.9',
    identity: 'spiffe://tollgate.local/web',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    host: 'api.example',
    tls: 'TLSv1.3',
    userAgent: 'curl/8 "quoted"',
  };

  it('ok/the default line carries every field: today\'s, then client, identity, trace id, host, TLS version and user agent', () => {
    const s = sink();
    createAccessLog(createLogger({ destination: s }), new ManualClock())({ ...full, code: 'NO_ROUTE' });
    const line = JSON.parse(s.lines[0] as string) as Record<string, unknown>;
    expect(line).toMatchObject({ ...full, code: 'NO_ROUTE' });
    expect(Object.keys(line)).toEqual([
      'level', 'time', 'service', 'msg', 'requestId', 'route', 'upstream', 'target', 'method', 'path', 'proto', 'client',
      'status', 'durationMs', 'attempts', 'bytes', 'code', 'identity', 'traceId', 'host', 'tls', 'userAgent',
    ]);
  });

  it('ok/accessLog.fields chooses the fields and their order; setFields changes them for the next line', () => {
    const s = sink();
    const log = createAccessLog(createLogger({ destination: s }), new ManualClock(), undefined, ['status', 'traceId', 'client', 'userAgent', 'code']);
    log(full);
    log.setFields(['requestId', 'tls']);
    log(full);
    log.setFields(['requestId', 'route', 'upstream', 'target', 'method', 'path', 'proto', 'client', 'status', 'durationMs', 'attempts', 'bytes', 'code', 'err', 'identity', 'traceId', 'host', 'tls', 'userAgent']);
    log(full);
    const [a, b, c] = s.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(a as object)).toEqual(['level', 'time', 'service', 'msg', 'status', 'traceId', 'client', 'userAgent']);
    expect(a).toMatchObject({ status: 200, traceId: full.traceId, client: full.client, userAgent: full.userAgent });
    expect(b).toEqual({ level: 'info', time: b?.time, service: 'tollgate', msg: 'request', requestId: 'r1', tls: 'TLSv1.3' });
    expect(c).toMatchObject(full);
  });
});
