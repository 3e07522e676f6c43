import fastifyHelmet from '@fastify/helmet'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

/**
 * Security headers on every response (helmet's defaults: HSTS, nosniff, no referrer, same-origin opener and
 * resource policies, …). A JSON response loads nothing and is framed by nobody, so its content security policy
 * allows nothing; the docs pages set their own (src/plugins/docs.ts).
 */
const securityHeaders: FastifyPluginAsync = async (fastify) => {
  await fastify.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
    },
    frameguard: { action: 'deny' },
  })
}

export default fp(securityHeaders, { name: 'security-headers' })
