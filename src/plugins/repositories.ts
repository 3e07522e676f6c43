import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { TaskRepository } from '../repositories/tasks.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The tasks' data access, with its prepared-statement cache: one for the whole app. */
    taskRepository: TaskRepository
  }
}

/**
 * Creates the repositories once, on the open database. The task routes are registered once per path style;
 * built here, both share one repository and so one statement cache.
 */
const repositories: FastifyPluginAsync = async (fastify) => {
  fastify.decorate('taskRepository', new TaskRepository(fastify.db.orm))
}

export default fp(repositories, { name: 'repositories', dependencies: ['db'] })
