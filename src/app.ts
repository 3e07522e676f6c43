import type { FastifyHttpOptions, FastifyPluginAsync, RawServerDefault } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from './config.js'
import { answerClientError } from './http/client-errors.js'
import { buildValidator } from './http/validation.js'
import auth from './plugins/auth.js'
import bodyParsing from './plugins/body-parsing.js'
import clock from './plugins/clock.js'
import cors from './plugins/cors.js'
import db from './plugins/db.js'
import docs from './plugins/docs.js'
import env from './plugins/env.js'
import idempotency from './plugins/idempotency.js'
import opaqueTokens from './plugins/opaque-tokens.js'
import problems, { sendErrorProblem } from './plugins/problems.js'
import purge from './plugins/purge.js'
import rateLimit from './plugins/rate-limit.js'
import repositories from './plugins/repositories.js'
import requestId, { requestIdOf } from './plugins/request-id.js'
import schemas from './plugins/schemas.js'
import securityHeaders from './plugins/security-headers.js'
import healthRoutes from './routes/health.js'
import taskRoutes from './routes/tasks/index.js'
import { MAX_USER_ID_LENGTH } from './schemas/task.js'

/** A whole request, headers and body, must arrive within this (408 otherwise). */
const REQUEST_TIMEOUT_MS = 30_000

/** Fastify's own options, shared by the server and the tests so both build exactly the same app. */
export const serverOptions: FastifyHttpOptions<RawServerDefault> = {
  genReqId: requestIdOf,
  // Slow or abandoned clients cannot hold sockets open: 30 s for a request, 2 minutes for an idle connection.
  requestTimeout: REQUEST_TIMEOUT_MS,
  connectionTimeout: 120_000,
  clientErrorHandler: answerClientError,
  http: {
    // Node takes its timeouts from the constructor. Fastify sets requestTimeout only afterwards, which left
    // headersTimeout at Node's 60 s; Node swaps the two when the headers' is the longer, so a trickled body
    // had 60 s, and then waited for the next check. Checking every second (30 s by default) keeps the 408 on time.
    requestTimeout: REQUEST_TIMEOUT_MS,
    headersTimeout: REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: 1_000,
    // A request without Host is refused as a problem document by the problems plugin, not by Node's bare 400.
    requireHostHeader: false,
  },
  // A request that reaches a stopping server on a kept-alive connection is still served (then the connection
  // closes), rather than refused with a 503.
  return503OnClosing: false,
  // A user id in the path may be as long as a token's sub (the router counts decoded characters); longer is a 414.
  routerOptions: { maxParamLength: MAX_USER_ID_LENGTH },
  // The embedded database's WebAssembly start can take seconds on a busy machine; Fastify's default is 10 s.
  pluginTimeout: 30_000,
  schemaController: { compilersFactory: { buildValidator } },
  // Malformed URLs are answered by the router before any hook runs: give them the same problem format.
  frameworkErrors: (error, request, reply) => {
    sendErrorProblem(error, request, reply)
  },
}

export interface AppOptions {
  config: Config
  /** The application's clock; tests pass their own to move time without sleeping. */
  now?: () => Date
  /** How long a retry waits for the first request with its Idempotency-Key before 409; tests shorten it. */
  inFlightWaitMs?: number
}

/**
 * The whole application as one plugin, registered in phases; each plugin's declared dependencies come before it,
 * so the order is env → db → auth → routes.
 */
const app: FastifyPluginAsync<AppOptions> = async (fastify, { config, now, inFlightWaitMs }) => {
  // What the app is given: its validated configuration (and the values parsed from it), and its clock.
  await fastify.register(env, { config })
  await fastify.register(clock, { ...(now && { now }) })

  // HTTP, for every route: errors as problem documents, request ids, security headers, body parsing, CORS,
  // the OpenAPI document (before any route, so it sees them all) and the shared schemas routes refer to.
  await fastify.register(problems)
  await fastify.register(requestId)
  await fastify.register(securityHeaders)
  await fastify.register(bodyParsing)
  await fastify.register(cors)
  await fastify.register(docs)
  await fastify.register(schemas)

  // Data: the database (migrated, or checked to be), the repositories on it, the key that seals list cursors
  // and sync tokens, and the hourly purge of expired tombstones and idempotency keys.
  await fastify.register(db)
  await fastify.register(repositories)
  await fastify.register(opaqueTokens)
  await fastify.register(purge)

  // Who is calling: bearer tokens verified, and `authenticate` for the routes that require one.
  await fastify.register(auth)

  // Policies that need the caller: retry-safe writes (Idempotency-Key) and the per-caller rate limit.
  await fastify.register(idempotency, { ...(inFlightWaitMs !== undefined && { inFlightWaitMs }) })
  await fastify.register(rateLimit)

  // Routes: health and readiness, then the tasks under both path styles.
  await fastify.register(healthRoutes)
  await fastify.register(taskRoutes, { prefix: '/api/tasks' })
  await fastify.register(taskRoutes, { prefix: '/api/:user_id/tasks', userInPath: true })
}

export default fp(app, { name: 'tasks-api', fastify: '5.x' })
