/** The admin API's one error answer: `{ error: { code, message } }`, its status from the error table. */
import type { FastifyReply } from 'fastify';
import { STATUS, type ErrorCode } from '../core/errors.js';

/**
 * Sends the admin's JSON error. The status comes from STATUS (core/errors.ts) unless `status` is
 * given, which only the framework-error handler does (fastify chose that 4xx itself).
 */
export function adminError(reply: FastifyReply, code: ErrorCode, message: string, opts: { status?: number; headers?: Record<string, string> } = {}): FastifyReply {
  reply.code(opts.status ?? STATUS[code]).header('content-type', 'application/json').header('cache-control', 'no-store');
  if (opts.headers !== undefined) reply.headers(opts.headers);
  return reply.send(JSON.stringify({ error: { code, message } }));
}
