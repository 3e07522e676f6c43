import { Type } from '@sinclair/typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyPluginAsync } from 'fastify'
import { DEFAULT_ORDER, InvalidCursorError } from '../../repositories/tasks.js'
import { NoQuery } from '../../schemas/no-query.js'
import { ref } from '../../schemas/ref.js'
import { IdempotencyKeyHeader } from '../../schemas/request-headers.js'
import { apiProblems, jsonResponse } from '../../schemas/responses.js'
import { ClearCompletedQuery, Task as TaskSchema, TaskCreate, TaskDeletion, TaskListQuery, TaskStats } from '../../schemas/task.js'
import { invalidCursor, ListCursors, nextPageLink } from './list-cursor.js'
import type { PathStyle } from './path-style.js'
import { instant, normalizeListQuery, taskFields } from './task-input.js'
import { sendWrite } from './write-response.js'

/** The caller's tasks as a collection: list, create, count, and clear the completed ones. */
const collectionRoutes: FastifyPluginAsync<PathStyle> = async (plugin, { userInPath, operationId, collectionParams }) => {
  const fastify = plugin.withTypeProvider<TypeBoxTypeProvider>()
  const repository = fastify.taskRepository
  const cursors = new ListCursors(fastify.opaqueTokens)
  const { idempotency } = fastify

  fastify.get(
    '',
    {
      schema: {
        operationId: operationId('listTasks'),
        tags: ['tasks'],
        summary: 'List the caller’s tasks',
        description:
          'Filtered, sorted and paged. Follow `Link: <…>; rel="next"` for the next page; `X-Total-Count` counts every matching task. ' +
            'Ties break on `id`, so paging is stable while tasks change.',
        ...collectionParams,
        querystring: TaskListQuery,
        response: {
          200: jsonResponse('api', 'A page of tasks.', Type.Array(ref(TaskSchema), { maxItems: 500 }), ['Link', 'X-Total-Count']),
          ...apiProblems({ owned: userInPath }),
        },
      },
      preValidation: (request, _reply, done) => {
        normalizeListQuery(request.query)
        done()
      },
    },
    async (request, reply) => {
      const { due_before, due_after, cursor, sort = 'created', order = DEFAULT_ORDER[sort], ...filters } = request.query
      const ordering = { sort, order }
      const page = await repository.list(request.userId, {
        ...filters,
        ...ordering,
        ...(due_before !== undefined && { due_before: instant(due_before, '/querystring/due_before') }),
        ...(due_after !== undefined && { due_after: instant(due_after, '/querystring/due_after') }),
        ...(cursor !== undefined && { after: cursors.decode(request.userId, cursor, ordering) }),
      }).catch((error: unknown) => {
        throw error instanceof InvalidCursorError ? invalidCursor() : error
      })
      reply.header('x-total-count', String(page.total))
      if (page.next) reply.header('link', nextPageLink(request.url, cursors.encode(request.userId, page.next, ordering)))
      return page.tasks
    }
  )

  fastify.post(
    '',
    {
      schema: {
        operationId: operationId('createTask'),
        tags: ['tasks'],
        summary: 'Create a task',
        description: 'Only `title` is required. Unknown fields are refused with `422`, never dropped.',
        ...collectionParams,
        querystring: NoQuery,
        headers: IdempotencyKeyHeader,
        body: ref(TaskCreate),
        response: {
          201: jsonResponse('api', 'The created task.', ref(TaskSchema), ['Location', 'ETag', 'Idempotency-Replayed']),
          ...apiProblems({ body: true, owned: userInPath, idempotent: true }),
        },
      },
    },
    async (request, reply) =>
      sendWrite(idempotency, request, reply, 201, (claim) => repository.create(request.userId, taskFields(request.body), claim))
  )

  fastify.get(
    '/stats',
    {
      schema: {
        operationId: operationId('getTaskStats'),
        tags: ['tasks'],
        summary: 'Count the caller’s tasks',
        description: '`overdue` and `by_priority` count pending tasks only.',
        ...collectionParams,
        querystring: NoQuery,
        response: { 200: jsonResponse('api', 'The counts.', ref(TaskStats)), ...apiProblems({ owned: userInPath }) },
      },
    },
    async (request) => repository.stats(request.userId)
  )

  fastify.delete(
    '',
    {
      schema: {
        operationId: operationId('clearCompletedTasks'),
        tags: ['tasks'],
        summary: 'Delete all of the caller’s completed tasks',
        description: 'Requires `?status=completed`, so a bare DELETE on the collection can never empty it.',
        ...collectionParams,
        querystring: ClearCompletedQuery,
        response: {
          200: jsonResponse('api', 'How many tasks were deleted.', ref(TaskDeletion)),
          ...apiProblems({ owned: userInPath, write: true }),
        },
      },
    },
    async (request) => ({ deleted: await repository.deleteCompleted(request.userId) })
  )
}

export default collectionRoutes
