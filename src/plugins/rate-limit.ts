import fastifyRateLimit from '@fastify/rate-limit'
import { format as formatDuration } from '@lukeed/ms'
import type { FastifyPluginAsync, onRequestAsyncHookHandler, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { HttpProblem } from '../http/problem.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** An `onRequest` hook counting the request against its caller's budget; `429` once it is spent. */
    limitRate: onRequestHookHandler | onRequestAsyncHookHandler
  }
}

/** A rate-limit check must never hold a request up for long: without Redis, requests go through unlimited. */
const REDIS_TIMEOUT_MS = 500

/**
 * A budget of RATE_LIMIT_MAX requests per RATE_LIMIT_WINDOW per caller: the verified token's `sub`, else the
 * client IP (so guessing tokens is limited too). Kept in process, or in Redis when REDIS_URL is set so that
 * several instances share one budget. Headers follow the IETF draft: RateLimit-Limit, -Remaining, -Reset, and
 * Retry-After on a 429. Routes opt in by adding `limitRate` as a hook (health, readiness and docs do not).
 */
const rateLimit: FastifyPluginAsync = async (fastify) => {
  const { RATE_LIMIT_MAX, REDIS_URL } = fastify.config
  if (RATE_LIMIT_MAX === 0) {
    fastify.decorate('limitRate', (_request, _reply, done) => done())
    return
  }
  const redis = REDIS_URL === undefined ? undefined : await connectRedis(REDIS_URL, fastify.log)
  if (redis !== undefined) fastify.addHook('onClose', async () => { await redis.quit().catch(() => redis.disconnect()) })

  const windowMs = fastify.settings.rateLimitWindowMs
  await fastify.register(fastifyRateLimit, {
    global: false,
    max: RATE_LIMIT_MAX,
    timeWindow: windowMs,
    enableDraftSpec: true,
    ...(redis !== undefined && { redis, nameSpace: 'tasks-api:rate-limit:' }),
    // A broken store must not take the API down with it: the request goes through (and the error is logged).
    skipOnError: true,
    keyGenerator: async (request) => {
      const userId = await fastify.identify(request)
      return userId === undefined ? `ip:${request.ip}` : `user:${userId}`
    },
    errorResponseBuilder: (_request, context) =>
      new HttpProblem(
        context.statusCode,
        `Too many requests: at most ${context.max} per ${formatDuration(windowMs, true)}; retry in ${context.after}.`
      ),
  })
  fastify.decorate('limitRate', fastify.rateLimit())
}

/** Connected before the first request when Redis answers; otherwise the server starts unlimited and keeps retrying. */
async function connectRedis (url: string, log: { warn: (object: object, message: string) => void }): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: REDIS_TIMEOUT_MS,
    commandTimeout: REDIS_TIMEOUT_MS,
    // Fail fast while disconnected instead of queueing requests behind a reconnect.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  })
  let reported = false
  redis.on('error', (error) => {
    if (!reported) log.warn({ err: error }, 'rate-limit store unavailable: requests are not limited until it is back')
    reported = true
  })
  redis.on('ready', () => {
    reported = false
  })
  await redis.connect().catch(() => {})
  return redis
}

export default fp(rateLimit, { name: 'rate-limit', dependencies: ['env', 'auth', 'problems'] })
