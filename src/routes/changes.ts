import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { TSchema } from '@sinclair/typebox'
import type { FastifyPluginAsync } from 'fastify'
import { syncRetentionMs } from '../config.js'
import type { TaskRepository } from '../repositories/tasks.js'
import { apiProblems, jsonResponse } from '../schemas/responses.js'
import { ref } from '../schemas/ref.js'
import { ChangesQuery, DEFAULT_CHANGES_LIMIT, TaskChanges } from '../schemas/sync.js'
import { decodeSyncToken, encodeSyncToken } from './sync-token.js'

export interface ChangesRouteOptions {
  repository: TaskRepository
  operationId: string
  /** The collection's path parameters (the owner-in-path style has `user_id`). */
  params?: TSchema
}

/**
 * `GET …/changes`: the incremental sync feed of contract §9. Registered inside the task routes, so it runs behind
 * the same rate limit, authentication and owner check.
 */
const changesRoute: FastifyPluginAsync<ChangesRouteOptions> = async (plugin, { repository, operationId, params }) => {
  const fastify = plugin.withTypeProvider<TypeBoxTypeProvider>()
  const retentionMs = syncRetentionMs(fastify.config) as number

  fastify.get(
    '/changes',
    {
      schema: {
        operationId,
        tags: ['sync'],
        summary: 'Changes since the last sync',
        description:
          'Without `since`: every live task. With `since` (the `next` of the previous page): tasks changed since, and tombstones of deleted ones, oldest first. Apply each page in order, store `next`, and ask again straight away while `has_more` is true. A token older than `SYNC_RETENTION` gets `410`: sync again without `since`.',
        ...(params && { params }),
        querystring: ChangesQuery,
        response: { 200: jsonResponse('api', 'A page of changes.', ref(TaskChanges)), ...apiProblems({ owned: params !== undefined, gone: true }) },
      },
    },
    async (request) => {
      const { since, limit = DEFAULT_CHANGES_LIMIT } = request.query
      const now = fastify.now()
      const token = since === undefined ? undefined : decodeSyncToken(since, request.userId, now, retentionMs)
      const page = await repository.changes(request.userId, { ...(token && { after: token.position, floor: token.floor }), limit })
      // The token ages from the oldest tombstone it may still need (see TaskRepository.changes).
      const issuedAt = page.lastChangedAt === undefined ? now.getTime() : Math.max(token?.issuedAt ?? now.getTime(), page.lastChangedAt.getTime())
      const next = encodeSyncToken(request.userId, { position: page.position, floor: page.floor, issuedAt })
      return { changes: page.changes, next, has_more: page.hasMore }
    },
  )
}

export default changesRoute
