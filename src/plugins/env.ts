import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export interface EnvOptions {
  config: Config
}

/** Exposes the validated configuration; loading and validating it happens before Fastify starts (src/config.ts). */
const env: FastifyPluginAsync<EnvOptions> = async (fastify, { config }) => {
  fastify.decorate('config', config)
}

export default fp(env, { name: 'env', fastify: '5.x' })
