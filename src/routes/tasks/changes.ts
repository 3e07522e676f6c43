import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { TSchema } from '@sinclair/typebox'
import type { FastifyPluginAsync } from 'fastify'
import { HttpProblem } from '../../http/problem.js'
import { FeedPositionPurgedError } from '../../repositories/tasks.js'
import { apiProblems, jsonResponse } from '../../schemas/responses.js'
import { ref } from '../../schemas/ref.js'
import { ChangesQuery, DEFAULT_CHANGES_LIMIT, TaskChanges } from '../../schemas/sync.js'
import { SyncTokens } from './sync-token.js'

export interface ChangesRouteOptions {
  operationId: string
  /** The collection's path parameters (the owner-in-path style has `user_id`). */
  params?: TSchema
}

const PURGED =
  'Deleted tasks this sync token still needs have been purged (tombstones are kept for SYNC_RETENTION). Sync again without `since`.'

/**
 * `GET …/changes`: the incremental sync feed of contract §9. Registered inside the task routes, so it runs behind
 * the same rate limit, authentication and owner check.
 */
const changesRoute: FastifyPluginAsync<ChangesRouteOptions> = async (plugin, { operationId, params }) => {
  const fastify = plugin.withTypeProvider<TypeBoxTypeProvider>()
  const repository = fastify.taskRepository
  const syncTokens = new SyncTokens(fastify.opaqueTokens)

  fastify.get(
    '/changes',
    {
      schema: {
        operationId,
        tags: ['sync'],
        summary: 'Changes since the last sync',
        description:
          'Without `since`: every live task. ' +
            'With `since` (the `next` of the previous page): tasks changed since, and tombstones of deleted ones, oldest first. ' +
            'Apply each page in order, store `next`, and ask again straight away while `has_more` is true. ' +
            '`410` when deleted tasks the token still needs have been purged (tombstones are kept for `SYNC_RETENTION`): ' +
            'sync again without `since`.',
        ...(params && { params }),
        querystring: ChangesQuery,
        response: {
          200: jsonResponse('api', 'A page of changes.', ref(TaskChanges)),
          ...apiProblems({ owned: params !== undefined, gone: true }),
        },
      },
    },
    async (request) => {
      const { since, limit = DEFAULT_CHANGES_LIMIT } = request.query
      const token = since === undefined ? undefined : syncTokens.decode(request.userId, since)
      const page = await repository.changes(request.userId, { ...(token && { since: token }), limit }).catch((error: unknown) => {
        throw error instanceof FeedPositionPurgedError ? new HttpProblem(410, PURGED) : error
      })
      return { changes: page.changes, next: syncTokens.encode(request.userId, page.next), has_more: page.hasMore }
    }
  )
}

export default changesRoute
