import { isUtf8 } from 'node:buffer'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem } from '../http/problem.js'

/**
 * Bodies are JSON only: a text body is a 415, not a string that reaches validation as if it were data.
 * An empty body is no body, whatever its Content-Type (contract §8): fetch wrappers send
 * `Content-Type: application/json` on every call, DELETE included; a route that needs a body then answers 422.
 * Every route takes at most BODY_LIMIT bytes (413 beyond), read before any parsing.
 */
const bodyParsing: FastifyPluginAsync = async (fastify) => {
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body: Buffer, done) => {
    if (body.length === 0) return done(null, undefined)
    // Decoding would turn bytes that are not UTF-8 into U+FFFD, and store that: refuse them instead.
    if (!isUtf8(body)) return done(new HttpProblem(400, 'The body is not valid UTF-8.'), undefined)
    // Plain JSON.parse, not Fastify's parser, which refuses a `__proto__` or `constructor` key as invalid JSON
    // (a 400 blaming the syntax). JSON.parse makes such a key an own data property, never the object's prototype,
    // and every body schema refuses unknown fields, so validation answers 422 naming it before any handler runs.
    // (normalizeTaskInput, which sees the body before validation, only reads and sets the known fields.)
    let value: unknown
    try {
      value = JSON.parse(body.toString())
    } catch (error) {
      return done(new HttpProblem(400, `The body is not valid JSON: ${(error as SyntaxError).message}`), undefined)
    }
    done(null, value)
  })
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    if (body.length === 0) done(null, undefined)
    else done(unsupportedMediaType(request), undefined)
  })
  fastify.addHook('onRoute', (route) => {
    route.bodyLimit ??= fastify.config.BODY_LIMIT
  })
}

/** A 415 that says what to send instead. */
export function unsupportedMediaType (request: FastifyRequest): HttpProblem {
  return new HttpProblem(
    415,
    `Unsupported Media Type: ${request.headers['content-type'] ?? 'none'}. Send the body as JSON, with Content-Type: application/json.`
  )
}

export default fp(bodyParsing, { name: 'body-parsing', dependencies: ['env'] })
