import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem } from '../../http/problem.js'
import changesRoute from './changes.js'
import collectionRoutes from './collection.js'
import itemRoutes from './item.js'
import { pathStyle } from './path-style.js'
import { normalizeTaskInput } from './task-input.js'

export interface TaskRoutesOptions {
  /** `/api/{user_id}/tasks…`, the original plan's style: the path names the owner, who must be the caller. */
  userInPath?: boolean
}

/**
 * The task resource. Registered once per path style: under `/api/tasks` and under `/api/:user_id/tasks`.
 * Checks run in the contract's order: authentication (onRequest, before the body is read), validation,
 * then the owner in the path, then existence and ownership of the task. The hooks here cover every route below.
 */
const taskRoutes: FastifyPluginAsync<TaskRoutesOptions> = async (fastify, { userInPath = false }) => {
  const style = pathStyle(userInPath)

  // Counted before authentication answers, so failed attempts count against the client's IP.
  fastify.addHook('onRequest', fastify.limitRate)
  fastify.addHook('onRequest', fastify.authenticate)
  // Synchronous hooks (with `done`) where nothing is awaited: each async one costs a promise per request.
  fastify.addHook('preValidation', (request, _reply, done) => {
    normalizeTaskInput(request.body)
    done()
  })
  if (userInPath) {
    fastify.addHook('preHandler', (request: FastifyRequest<{ Params: { user_id: string } }>, _reply, done) => {
      done(
        request.params.user_id === request.userId
          ? undefined
          : new HttpProblem(403, 'The user id in the path is not the authenticated user.')
      )
    })
  }

  await fastify.register(changesRoute, { operationId: style.operationId('listTaskChanges'), ...style.collectionParams })
  await fastify.register(collectionRoutes, style)
  await fastify.register(itemRoutes, style)
}

export default fp(taskRoutes, {
  name: 'task-routes',
  dependencies: ['repositories', 'opaque-tokens', 'auth', 'rate-limit', 'schemas', 'problems', 'body-parsing', 'clock', 'idempotency'],
  // Registered once per path style, each with its own prefix and hooks.
  encapsulate: true,
})
