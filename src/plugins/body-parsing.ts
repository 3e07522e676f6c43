import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem } from '../http/problem.js'

/**
 * Bodies are JSON only: a text body is a 415, not a string that reaches validation as if it were data.
 * Every route takes at most BODY_LIMIT bytes (413 beyond), read before any parsing.
 */
const bodyParsing: FastifyPluginAsync = async (fastify) => {
  fastify.removeContentTypeParser('text/plain')
  fastify.addHook('onRoute', (route) => {
    route.bodyLimit ??= fastify.config.BODY_LIMIT
  })
}

/**
 * For one encapsulated context: an empty body is no body, whatever its Content-Type (a client may send
 * `Content-Type: application/json` with nothing after it); a non-empty body must still be JSON.
 */
export function acceptEmptyBodies(instance: FastifyInstance): void {
  const parseJson = instance.getDefaultJsonParser('error', 'error')
  instance.removeContentTypeParser('application/json')
  instance.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined)
    else parseJson(request, body as string, done)
  })
  instance.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined)
    else done(new HttpProblem(415, `Unsupported Media Type: ${request.headers['content-type'] ?? 'none'}; send application/json.`), undefined)
  })
}

export default fp(bodyParsing, { name: 'body-parsing', dependencies: ['env'] })
