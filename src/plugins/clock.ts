import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** The application's clock: Idempotency-Key lifetimes and purges read it. */
    now(): Date
  }
}

export interface ClockOptions {
  /** Tests pass their own clock to move time without sleeping. */
  now?: () => Date
}

const clock: FastifyPluginAsync<ClockOptions> = async (fastify, { now = () => new Date() }) => {
  fastify.decorate('now', now)
}

export default fp(clock, { name: 'clock' })
