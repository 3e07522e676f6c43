import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { HealthStatus } from '../schemas/health.js'
import { FieldError, Problem, ValidationProblem } from '../schemas/problem.js'
import { syncSchemas } from '../schemas/sync.js'
import { taskSchemas } from '../schemas/task.js'

/** Registers each public schema once; routes `$ref` them, and the OpenAPI document names them as components. */
const schemas: FastifyPluginAsync = async (fastify) => {
  for (const schema of [Problem, FieldError, ValidationProblem, HealthStatus, ...taskSchemas, ...syncSchemas]) fastify.addSchema(schema)
}

export default fp(schemas, { name: 'schemas' })
