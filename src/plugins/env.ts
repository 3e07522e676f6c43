import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { settingsOf, type Config, type Settings } from '../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    /** The configuration's values as the service uses them: durations in milliseconds, origins as a list. */
    settings: Settings
  }
}

export interface EnvOptions {
  config: Config
}

/**
 * Exposes the validated configuration, and its values parsed once for their consumers; loading and validating
 * it happens before Fastify starts (src/config.ts).
 */
const env: FastifyPluginAsync<EnvOptions> = async (fastify, { config }) => {
  fastify.decorate('config', config)
  fastify.decorate('settings', settingsOf(config))
}

export default fp(env, { name: 'env', fastify: '5.x' })
