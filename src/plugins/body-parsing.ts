import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem } from '../http/problem.js'

/**
 * Bodies are JSON only: a text body is a 415, not a string that reaches validation as if it were data.
 * An empty body is no body, whatever its Content-Type (contract §8): fetch wrappers send
 * `Content-Type: application/json` on every call, DELETE included; a route that needs a body then answers 422.
 * Every route takes at most BODY_LIMIT bytes (413 beyond), read before any parsing.
 */
const bodyParsing: FastifyPluginAsync = async (fastify) => {
  const parseJson = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined)
    else parseJson(request, body as string, done)
  })
  fastify.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined)
    else done(new HttpProblem(415, `Unsupported Media Type: ${request.headers['content-type'] ?? 'none'}; send application/json.`), undefined)
  })
  fastify.addHook('onRoute', (route) => {
    route.bodyLimit ??= fastify.config.BODY_LIMIT
  })
}

export default fp(bodyParsing, { name: 'body-parsing', dependencies: ['env'] })
