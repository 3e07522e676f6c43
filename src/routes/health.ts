import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { DatabaseUnavailableError } from '../db/errors.js'
import { HealthStatus } from '../schemas/health.js'
import { NoQuery } from '../schemas/no-query.js'
import { Problem, ValidationProblem } from '../schemas/problem.js'
import { jsonResponse, problemResponse } from '../schemas/responses.js'
import { ref } from '../schemas/ref.js'

/** A readiness probe must answer before a load balancer gives up on it. */
const READY_TIMEOUT_MS = 3000

const publicProblems = {
  422: problemResponse('public', 'These routes take no query parameters.', ValidationProblem),
  500: problemResponse('public', 'Unexpected error; quote the request id when reporting it.'),
}

/** Liveness and readiness for orchestrators: public, and outside `/api`. */
const healthRoutes: FastifyPluginAsync = async (fastify) => {
  fastify.get(
    '/health',
    {
      schema: {
        operationId: 'getHealth',
        tags: ['operations'],
        summary: 'Liveness: the process is running',
        description: 'Does not touch the database: for liveness probes. Public and not rate limited.',
        security: [],
        querystring: NoQuery,
        response: { 200: jsonResponse('public', 'The process is running.', ref(HealthStatus)), ...publicProblems },
      },
    },
    async () => ({ status: 'ok' as const })
  )

  fastify.get(
    '/ready',
    {
      schema: {
        operationId: 'getReadiness',
        tags: ['operations'],
        summary: 'Readiness: the database answers',
        description:
          `Asks the database, giving up after ${READY_TIMEOUT_MS / 1000} seconds: for readiness probes. Public and not rate limited.`,
        security: [],
        querystring: NoQuery,
        response: {
          200: jsonResponse('public', 'The database answers.', ref(HealthStatus)),
          ...publicProblems,
          503: problemResponse('public', 'The database is not answering.', Problem, ['Retry-After']),
        },
      },
    },
    async () => {
      try {
        await fastify.db.ping(READY_TIMEOUT_MS)
      } catch (error) {
        throw new DatabaseUnavailableError(error)
      }
      return { status: 'ok' as const }
    }
  )
}

export default fp(healthRoutes, { name: 'health-routes', dependencies: ['db', 'schemas'], encapsulate: true })
