import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { DatabaseUnavailableError } from '../db/errors.js'
import { HealthStatus } from '../schemas/health.js'
import { problemResponse } from '../schemas/problem.js'
import { ref } from '../schemas/ref.js'

/** A readiness probe must answer before a load balancer gives up on it. */
const READY_TIMEOUT_MS = 3000

/** Liveness and readiness for orchestrators: public, and outside `/api`. */
const healthRoutes: FastifyPluginAsync = async (fastify) => {
  fastify.get(
    '/health',
    {
      schema: {
        operationId: 'getHealth',
        tags: ['operations'],
        summary: 'Liveness: the process is running',
        description: 'Does not touch the database.',
        security: [],
        response: { 200: ref(HealthStatus) },
      },
    },
    async () => ({ status: 'ok' as const }),
  )

  fastify.get(
    '/ready',
    {
      schema: {
        operationId: 'getReadiness',
        tags: ['operations'],
        summary: 'Readiness: the database answers',
        security: [],
        response: { 200: ref(HealthStatus), 503: problemResponse('The database is not answering.') },
      },
    },
    async () => {
      try {
        await fastify.db.ping(READY_TIMEOUT_MS)
      } catch (error) {
        throw new DatabaseUnavailableError(error)
      }
      return { status: 'ok' as const }
    },
  )
}

export default fp(healthRoutes, { name: 'health-routes', dependencies: ['db', 'schemas'], encapsulate: true })
