import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsync, RawRequestDefaultExpression } from 'fastify'
import fp from 'fastify-plugin'
import { REQUEST_ID_PATTERN } from '../schemas/patterns.js'

const SANE_REQUEST_ID = new RegExp(REQUEST_ID_PATTERN)

/** Fastify's `genReqId`: the caller's id when sane, else a new UUID. */
export function requestIdOf (request: RawRequestDefaultExpression): string {
  const given = request.headers['x-request-id']
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID()
}

/** Every response carries its request id, so a report from a browser can be matched with the logs. */
const requestId: FastifyPluginAsync = async (fastify) => {
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
}

export default fp(requestId, { name: 'request-id' })
