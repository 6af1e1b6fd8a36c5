import { afterEach, describe, expect, it } from 'vitest';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { EventEmitter, once } from 'node:events';
import type { Http2Session } from 'node:http2';
import { trackStreams, startIdleSweep, sweepInterval } from './idle-sweep.js';

describe('idle sweep', () => {
  let server: Server | undefined;
  const open: Socket[] = [];
  afterEach(async () => {
    for (const s of open) s.destroy();
    open.length = 0;
    if (server) await new Promise((r) => server!.close(r));
    server = undefined;
  });

  /** A connected loopback pair: [server side, client side]. */
  async function pair(): Promise<[Socket, Socket]> {
    server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const client = connect(port, '127.0.0.1');
    const [serverSide] = await accepted;
    open.push(serverSide, client);
    return [serverSide, client];
  }

  it('closes a connection whose bytes have not moved for the idle limit, and only then', async () => {
    const [s] = await pair();
    let t = 0;
    const sweep = startIdleSweep(new Set([s]), 1000, { now: () => t, timer: false });
    sweep.sweep(); // first sight
    t = 999;
    sweep.sweep();
    expect(s.destroyed).toBe(false);
    t = 1000;
    sweep.sweep();
    expect(s.destroyed).toBe(true);
  });

  it('treats bytes read or written as activity', async () => {
    const [s, c] = await pair();
    let t = 0;
    const sweep = startIdleSweep(new Set([s]), 1000, { now: () => t, timer: false });
    sweep.sweep();
    t = 900;
    c.write('ping');
    await once(s, 'data');
    sweep.sweep(); // moved: idle clock restarts at 900
    t = 1800;
    s.write('pong');
    await once(c, 'data');
    sweep.sweep(); // moved again (a write): restarts at 1800
    t = 2700;
    sweep.sweep();
    expect(s.destroyed).toBe(false);
    t = 2800;
    sweep.sweep();
    expect(s.destroyed).toBe(true);
  });

  it('follows a new limit; 0 turns it off', async () => {
    const [s] = await pair();
    let t = 0;
    const sweep = startIdleSweep(new Set([s]), 1000, { now: () => t, timer: false });
    sweep.sweep();
    sweep.setIdleTimeout(0);
    t = 10_000;
    sweep.sweep();
    expect(s.destroyed).toBe(false);
    sweep.setIdleTimeout(5000);
    sweep.sweep();
    expect(s.destroyed).toBe(true);
  });

  it('ok/runs on its own timer: an idle connection is closed after the limit, well before a deadline', async () => {
    const [s] = await pair();
    const started = performance.now();
    const sweep = startIdleSweep(new Set([s]), 60);
    let deadline: ReturnType<typeof setTimeout> | undefined;
    try {
      // A positive event or a named failure: the close, or the 10 s deadline (generous under load).
      const outcome = await Promise.race([
        once(s, 'close').then(() => 'closed' as const),
        new Promise<'deadline passed'>((resolve) => (deadline = setTimeout(() => resolve('deadline passed'), 10_000))),
      ]);
      expect(outcome).toBe('closed');
      // Not before the limit (less a millisecond for timer rounding).
      expect(performance.now() - started).toBeGreaterThanOrEqual(59);
    } finally {
      clearTimeout(deadline);
      sweep.stop();
    }
  });

  it('sweeps a quarter of the limit, within 25 ms and 1 s', () => {
    expect(sweepInterval(60_000)).toBe(1000);
    expect(sweepInterval(2000)).toBe(500);
    expect(sweepInterval(40)).toBe(25);
  });

  it('error/an h2 session with no open stream is idle even while frames keep moving bytes', () => {
    const sock = { bytesRead: 0, bytesWritten: 0 };
    const session = Object.assign(new EventEmitter(), { destroyed: false, socket: sock, destroy() { session.destroyed = true; } });
    trackStreams(session as unknown as Http2Session);
    let t = 0;
    const sweep = startIdleSweep(new Set(), 1000, { now: () => t, timer: false, sessions: new Set([session as unknown as Http2Session]) });
    sweep.sweep();
    // An open stream that progresses keeps the session.
    const stream = new EventEmitter();
    session.emit('stream', stream);
    for (t = 500; t <= 3000; t += 500) {
      sock.bytesRead += 10;
      sweep.sweep();
    }
    expect(session.destroyed).toBe(false);
    stream.emit('close');
    // Pings after the last stream: bytes move, the session is still idle.
    for (t = 3500; t <= 5000; t += 500) {
      sock.bytesRead += 17;
      sweep.sweep();
    }
    expect(session.destroyed).toBe(true);
  });
});
