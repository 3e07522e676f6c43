import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { compactDocument, type OpenApiDocument } from '../schemas/components.js'
import { OCCASIONAL_HEADERS, SHARED_PROBLEMS } from '../schemas/responses.js'
import { DOCUMENT_SECURITY_HEADERS } from './security-headers.js'

/** Shown in Swagger UI's Authorize dialog: where a token comes from, then what the API checks in it. */
const BEARER_DESCRIPTION = [
  'Paste the token alone, without `Bearer `. Where to get one:',
  '',
  '- **Development:** `npm start` (`NODE_ENV` not `production`) prints one at startup, for the user `dev-user`: ' +
    '`Development token for user "dev-user": …`.',
  '- **Any user:** `npm run token -- <user-id>` prints one for that user, signed with `BETTER_AUTH_SECRET` ' +
    '(or the development secret in `.data/dev-secret`).',
  '- **Production:** Better Auth issues them: `GET /api/auth/token` on the Better Auth server (its JWT plugin), with a signed-in session.',
  '',
  'A JWT (RFC 7519) signed with HS256 by the shared secret, ' +
    'or by a key of the Better Auth server’s JWKS (EdDSA, ES256, ES512, RS256, PS256). ' +
    'Verified following the JWT best practices of RFC8725: ' +
    'an allow-list of algorithms per key type (never `none`, never an HMAC with a public key), `exp` required, ' +
    '`nbf`/`iat` not in the future, `iss`/`aud` checked when configured, `sub` names the caller.',
].join('\n')

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
        description: [
          'A multi-user todo service. Send `Authorization: Bearer <JWT>` on every `/api` call.',
          'Errors are RFC 9457 problem documents (`application/problem+json`) carrying the request id.',
          'Writes honour `If-Match` and reads `If-None-Match` with the `ETag` of a task.',
        ].join('\n\n'),
        license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
      },
      servers: [server(fastify.config)],
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: BEARER_DESCRIPTION,
          },
        },
      },
      security: [{ bearer: [] }],
      tags: [
        { name: 'tasks', description: 'The caller’s tasks' },
        { name: 'sync', description: 'Incremental sync for offline clients: changed tasks and tombstones since a token' },
        { name: 'operations', description: 'Health and readiness, for orchestrators' },
      ],
    },
    // Name components after the schemas' $id (Task, Problem, …) instead of def-0, def-1; addSchema requires one.
    refResolver: { buildLocalReference: (json) => json.$id as string },
    // What every operation repeats (headers, problem answers, parameters) is written once, in `components`.
    transformObject: (documentObject) =>
      compactDocument(withOptionalCompletionBody((documentObject as { openapiObject: OpenApiDocument }).openapiObject), {
        responses: Object.values(SHARED_PROBLEMS),
        occasionalHeaders: OCCASIONAL_HEADERS,
      }),
  })
  await fastify.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    // Collapsed on open: the page lists the operations, and each opens on demand.
    uiConfig: { docExpansion: 'none', persistAuthorization: true, displayRequestDuration: true, validatorUrl: null },
    staticCSP: docsContentSecurityPolicy(fastify.config),
    uiHooks: {
      onRequest: (_request, reply, done) => {
        reply.headers(DOCUMENT_SECURITY_HEADERS)
        done()
      },
    },
  })
}

/**
 * The docs page runs Swagger UI's own scripts (no inline ones) and calls the API from "Try it out": its own
 * origin, or PUBLIC_URL's. Swagger UI injects a few inline styles, which styles alone may use; nothing else
 * loads, and nobody may frame the page.
 */
function docsContentSecurityPolicy ({ PUBLIC_URL }: Config): Record<string, string[]> {
  return {
    'default-src': ["'self'"],
    'connect-src': ["'self'", ...(PUBLIC_URL === undefined ? [] : [new URL(PUBLIC_URL).origin])],
    'img-src': ["'self'", 'data:'],
    'script-src': ["'self'"],
    'script-src-attr': ["'none'"],
    'style-src': ["'self'", "'unsafe-inline'"],
    'object-src': ["'none'"],
    'base-uri': ["'self'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
  }
}

/**
 * Where clients reach the API: PUBLIC_URL when set; else `/`, the origin that serves the document, which is
 * right for the docs page and for a generated client pointed at this server.
 */
function server ({ PUBLIC_URL, NODE_ENV }: Config) {
  return {
    url: PUBLIC_URL ?? '/',
    description: NODE_ENV === 'production' ? 'Production' : 'Local development',
    'x-internal': false,
  }
}

/**
 * @fastify/swagger marks every request body required; the completion body is optional (no body toggles),
 * and a generated client must be allowed to omit it.
 */
function withOptionalCompletionBody (document: OpenApiDocument): OpenApiDocument {
  for (const operations of Object.values(document.paths)) {
    const patch = operations.patch as { operationId?: string; requestBody?: { required?: boolean } } | undefined
    if (patch?.operationId?.startsWith('setTaskCompletion') && patch.requestBody) patch.requestBody.required = false
  }
  return document
}

export default fp(docs, { name: 'docs', dependencies: ['env'] })
