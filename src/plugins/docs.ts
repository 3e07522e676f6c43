import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

/**
 * The OpenAPI 3.1 document, built from the routes' TypeBox schemas, at /docs/json, and Swagger UI at /docs.
 * Registered before the routes, whose schemas it collects as they are added.
 */
const docs: FastifyPluginAsync = async (fastify) => {
  await fastify.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tasks API',
        version: '0.1.0',
        description: 'A multi-user todo service. Send `Authorization: Bearer <JWT>` on every `/api` call.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
      security: [{ bearer: [] }],
      tags: [
        { name: 'tasks', description: 'The caller’s tasks' },
        { name: 'operations', description: 'Health and readiness' },
      ],
    },
    // Name components after the schemas' $id (Task, Problem, …) instead of def-0, def-1; addSchema requires one.
    refResolver: { buildLocalReference: (json) => json.$id as string },
    transformObject: (documentObject) => withOptionalCompletionBody((documentObject as { openapiObject: OpenApiDocument }).openapiObject),
  })
  await fastify.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    uiConfig: { persistAuthorization: true, displayRequestDuration: true },
  })
}

type OpenApiDocument = { paths: Record<string, Record<string, unknown>> }

/**
 * @fastify/swagger marks every request body required; the completion body is optional (no body toggles),
 * and a generated client must be allowed to omit it.
 */
function withOptionalCompletionBody(document: OpenApiDocument): OpenApiDocument {
  for (const operations of Object.values(document.paths)) {
    const patch = operations.patch as { operationId?: string; requestBody?: { required?: boolean } } | undefined
    if (patch?.operationId?.startsWith('setTaskCompletion') && patch.requestBody) patch.requestBody.required = false
  }
  return document
}

export default fp(docs, { name: 'docs', dependencies: ['env'] })
