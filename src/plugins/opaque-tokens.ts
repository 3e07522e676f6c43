import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { TokenKeyRepository } from '../repositories/token-keys.js'
import { OpaqueTokens } from '../http/opaque-token.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Seals and opens list cursors and sync tokens with the key every instance shares. */
    opaqueTokens: OpaqueTokens
  }
}

/** Reads the shared key once, at start: every instance on the database seals and opens the same tokens. */
const opaqueTokens: FastifyPluginAsync = async (fastify) => {
  fastify.decorate('opaqueTokens', new OpaqueTokens(await new TokenKeyRepository(fastify.db.orm).key('tokens')))
}

export default fp(opaqueTokens, { name: 'opaque-tokens', dependencies: ['db'] })
