import fastifyCors from '@fastify/cors'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

/**
 * The response headers a page may read, the rate limit's included (the docs tell clients to honour them);
 * one string, so it is not joined again for every answer.
 */
export const EXPOSED_HEADERS = [
  'Link',
  'X-Total-Count',
  'ETag',
  'Location',
  'Idempotency-Replayed',
  'X-Request-Id',
  'Retry-After',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
].join(', ')

/**
 * Browsers on the configured origins may call the API with credentials and read the headers a client needs
 * (paging, counts, concurrency, the created resource, the request id, when to retry). Never `*`: credentials
 * forbid it.
 */
const cors: FastifyPluginAsync = async (fastify) => {
  await fastify.register(fastifyCors, {
    origin: fastify.settings.corsOrigins,
    credentials: true,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'If-Match', 'If-None-Match', 'Idempotency-Key', 'X-Request-Id'],
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
    // An OPTIONS request that is not a preflight gets the same 204 (with no CORS grant unless the origin is
    // allowed) instead of @fastify/cors's plain-text 400.
    strictPreflight: false,
  })
}

export default fp(cors, { name: 'cors', dependencies: ['env'] })
