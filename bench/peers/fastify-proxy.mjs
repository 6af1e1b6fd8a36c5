// Bare @fastify/http-proxy on fastify (node:http2 secure server, allowHTTP1), no logger.
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';
import { origin, port, host, ready, tlsOptions } from './common.mjs';

const app = Fastify({ http2: true, https: { ...tlsOptions(), allowHTTP1: true }, logger: false });
await app.register(proxy, { upstream: origin, http2: false });
await app.listen({ port, host });
ready('@fastify/http-proxy (http2+h1)');
