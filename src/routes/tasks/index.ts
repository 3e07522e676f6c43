import { Type } from '@sinclair/typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem, invalidRequest } from '../../http/problem.js'
import { etagOf, ifMatchVersions, ifNoneMatchMatches } from '../../http/etag.js'
import { locationOf } from '../../plugins/idempotency.js'
import {
  DEFAULT_ORDER,
  InvalidCursorError,
  RecordedResponse,
  RecurrenceWithoutDueDateError,
  type ExpectedVersions,
} from '../../repositories/tasks.js'
import changesRoute from './changes.js'
import { invalidCursor, ListCursors, nextPageLink } from './list-cursor.js'
import { apiProblems, emptyResponse, jsonResponse } from '../../schemas/responses.js'
import { NoQuery } from '../../schemas/no-query.js'
import { UUID_PATTERN } from '../../schemas/patterns.js'
import { ref } from '../../schemas/ref.js'
import { IdempotencyKeyHeader, IfNoneMatchHeader, TaskWriteHeaders } from '../../schemas/request-headers.js'
import {
  ClearCompletedQuery,
  Task as TaskSchema,
  TaskCompletion,
  MAX_USER_ID_LENGTH,
  TaskCreate,
  TaskDeletion,
  TaskListQuery,
  TaskStats,
  TaskUpdate,
} from '../../schemas/task.js'
import { instant, normalizeListQuery, normalizeTaskInput, taskFields } from './task-input.js'

export interface TaskRoutesOptions {
  /** `/api/{user_id}/tasks…`, the original plan's style: the path names the owner, who must be the caller. */
  userInPath?: boolean
}

const TaskId = Type.String({ format: 'uuid', maxLength: 36, pattern: UUID_PATTERN, description: 'The task id.' })
const UserId = Type.String({ minLength: 1, maxLength: MAX_USER_ID_LENGTH, description: 'Must equal the token’s `sub`.' })

/**
 * The task resource. Registered once per path style: under `/api/tasks` and under `/api/:user_id/tasks`.
 * Checks run in the contract's order: authentication (onRequest, before the body is read), validation,
 * then the owner in the path, then existence and ownership of the task.
 */
const taskRoutes: FastifyPluginAsync<TaskRoutesOptions> = async (plugin, { userInPath = false }) => {
  const fastify = plugin.withTypeProvider<TypeBoxTypeProvider>()
  const repository = fastify.taskRepository
  const cursors = new ListCursors(fastify.opaqueTokens)
  const { idempotency } = fastify
  const operationId = (name: string) => (userInPath ? `${name}ForUser` : name)
  // Only the owner-in-path style has path parameters on the collection.
  const listParams = userInPath ? { params: Type.Object({ user_id: UserId }) } : {}
  const ItemParams = userInPath ? Type.Object({ user_id: UserId, id: TaskId }) : Type.Object({ id: TaskId })

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
      done(request.params.user_id === request.userId ? undefined : new HttpProblem(403, 'The user id in the path is not the authenticated user.'))
    })
  }

  /**
   * The answer to a scoped miss: 403 (another user's task), 404 (no such task) or, when the write had an
   * `If-Match` the caller's task no longer satisfies, 412 with the task's current ETag. Always throws; a hit
   * never calls it (`task ?? (await missing(…))`), so the usual request costs no extra promise.
   */
  async function missing(userId: string, id: string, expected?: ExpectedVersions): Promise<never> {
    if (expected !== undefined) {
      const current = await repository.get(userId, id)
      if (current !== undefined) {
        const detail = `Task ${id} has changed since you read it: If-Match does not match its ETag. Fetch it again.`
        throw new HttpProblem(412, detail, { etag: etagOf(current) })
      }
    }
    if (await repository.belongsToAnotherUser(userId, id)) throw new HttpProblem(403, `Task ${id} belongs to another user.`)
    throw new HttpProblem(404, `Task ${id} not found.`)
  }

  await fastify.register(changesRoute, { operationId: operationId('listTaskChanges'), ...(userInPath && { params: listParams.params }) })

  fastify.get(
    '',
    {
      schema: {
        operationId: operationId('listTasks'),
        tags: ['tasks'],
        summary: 'List the caller’s tasks',
        description:
          'Filtered, sorted and paged. Follow `Link: <…>; rel="next"` for the next page; `X-Total-Count` counts every matching task. Ties break on `id`, so paging is stable while tasks change.',
        ...listParams,
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
    },
  )

  fastify.post(
    '',
    {
      schema: {
        operationId: operationId('createTask'),
        tags: ['tasks'],
        summary: 'Create a task',
        description: 'Only `title` is required. Unknown fields are refused with `422`, never dropped.',
        ...listParams,
        querystring: NoQuery,
        headers: IdempotencyKeyHeader,
        body: ref(TaskCreate),
        response: {
          201: jsonResponse('api', 'The created task.', ref(TaskSchema), ['Location', 'ETag', 'Idempotency-Replayed']),
          ...apiProblems({ body: true, owned: userInPath, idempotent: true }),
        },
      },
    },
    async (request, reply) => {
      const claim = idempotency.claim(request, 201)
      const task = await idempotency.once(request, claim, () => repository.create(request.userId, taskFields(request.body), claim)).catch(recurrenceProblem)
      if (task instanceof RecordedResponse) return idempotency.replay(reply, task, claim!)
      return reply.code(201).header('location', locationOf(task)).header('etag', etagOf(task)).send(task)
    },
  )

  fastify.get(
    '/stats',
    {
      schema: {
        operationId: operationId('getTaskStats'),
        tags: ['tasks'],
        summary: 'Count the caller’s tasks',
        description: '`overdue` and `by_priority` count pending tasks only.',
        ...listParams,
        querystring: NoQuery,
        response: { 200: jsonResponse('api', 'The counts.', ref(TaskStats)), ...apiProblems({ owned: userInPath }) },
      },
    },
    async (request) => repository.stats(request.userId),
  )

  fastify.delete(
    '',
    {
      schema: {
        operationId: operationId('clearCompletedTasks'),
        tags: ['tasks'],
        summary: 'Delete all of the caller’s completed tasks',
        description: 'Requires `?status=completed`, so a bare DELETE on the collection can never empty it.',
        ...listParams,
        querystring: ClearCompletedQuery,
        response: { 200: jsonResponse('api', 'How many tasks were deleted.', ref(TaskDeletion)), ...apiProblems({ owned: userInPath, write: true }) },
      },
    },
    async (request) => ({ deleted: await repository.deleteCompleted(request.userId) }),
  )

  fastify.get(
    '/:id',
    {
      schema: {
        operationId: operationId('getTask'),
        tags: ['tasks'],
        summary: 'Get one task',
        description: 'With `If-None-Match` holding the task’s current `ETag`, answers `304` without a body.',
        params: ItemParams,
        querystring: NoQuery,
        headers: IfNoneMatchHeader,
        response: {
          200: jsonResponse('api', 'The task.', ref(TaskSchema), ['ETag']),
          304: emptyResponse('api', 'Not modified since the `ETag` in `If-None-Match`.', ['ETag']),
          ...apiProblems({ task: true, owned: true }),
        },
      },
    },
    async (request, reply) => {
      const { userId, params, headers } = request
      const task = (await repository.get(userId, params.id)) ?? (await missing(userId, params.id))
      reply.header('etag', etagOf(task))
      return ifNoneMatchMatches(headers['if-none-match'], task) ? reply.code(304).send() : task
    },
  )

  fastify.put(
    '/:id',
    {
      schema: {
        operationId: operationId('updateTask'),
        tags: ['tasks'],
        summary: 'Update some fields of a task',
        description:
          'Fields not sent keep their values. `"completed": true` on a recurring task creates its next occurrence. With `If-Match`, writes only if the task has not changed (`412` otherwise).',
        params: ItemParams,
        querystring: NoQuery,
        headers: TaskWriteHeaders,
        body: ref(TaskUpdate),
        response: {
          200: jsonResponse('api', 'The task as updated.', ref(TaskSchema), ['ETag', 'Idempotency-Replayed']),
          ...apiProblems({ body: true, task: true, owned: true, conditional: true, idempotent: true }),
        },
      },
    },
    async (request, reply) => {
      const { userId, params, body, headers } = request
      const expected = ifMatchVersions(headers['if-match'])
      const claim = idempotency.claim(request, 200)
      const updated = await idempotency.once(request, claim, () => repository.update(userId, params.id, taskFields(body), expected, claim)).catch(recurrenceProblem)
      if (updated instanceof RecordedResponse) return idempotency.replay(reply, updated, claim!)
      const task = updated ?? (await missing(userId, params.id, expected))
      return reply.header('etag', etagOf(task)).send(task)
    },
  )

  fastify.delete(
    '/:id',
    {
      schema: {
        operationId: operationId('deleteTask'),
        tags: ['tasks'],
        summary: 'Delete a task',
        description: 'With `If-Match`, deletes only if the task has not changed (`412` otherwise).',
        params: ItemParams,
        querystring: NoQuery,
        headers: TaskWriteHeaders,
        response: {
          204: emptyResponse('api', 'Deleted.', ['Idempotency-Replayed']),
          ...apiProblems({ task: true, owned: true, conditional: true, idempotent: true }),
        },
      },
    },
    async (request, reply) => {
      const { userId, params, headers } = request
      const expected = ifMatchVersions(headers['if-match'])
      const claim = idempotency.claim(request, 204)
      const deleted = await idempotency.once(request, claim, () => repository.delete(userId, params.id, expected, claim))
      if (deleted instanceof RecordedResponse) return idempotency.replay(reply, deleted, claim!)
      if (deleted === undefined) await missing(userId, params.id, expected)
      return reply.code(204).send(null)
    },
  )

  fastify.patch(
    '/:id/complete',
    {
      schema: {
        operationId: operationId('setTaskCompletion'),
        tags: ['tasks'],
        summary: 'Toggle a task, or set whether it is completed',
        description:
          'No body, an empty body or `{}` toggles `completed`; `{"completed": true|false}` sets it, and repeating that changes nothing. Completing a recurring task creates its next occurrence, once. With `If-Match`, writes only if the task has not changed (`412` otherwise).',
        params: ItemParams,
        querystring: NoQuery,
        headers: TaskWriteHeaders,
        body: ref(TaskCompletion),
        response: {
          200: jsonResponse('api', 'The task as it now is.', ref(TaskSchema), ['ETag', 'Idempotency-Replayed']),
          ...apiProblems({ body: true, task: true, owned: true, conditional: true, idempotent: true }),
        },
      },
      // An absent body means "toggle", like `{}`; a JSON `null` is not absent and fails validation.
      preValidation: (request, _reply, done) => {
        if (request.body === undefined) request.body = {}
        done()
      },
    },
    async (request, reply) => {
      const { userId, params, body, headers } = request
      const expected = ifMatchVersions(headers['if-match'])
      const claim = idempotency.claim(request, 200)
      const written = await idempotency.once(request, claim, () =>
        body.completed === undefined
          ? repository.toggleCompleted(userId, params.id, expected, claim)
          : repository.update(userId, params.id, { completed: body.completed }, expected, claim),
      )
      if (written instanceof RecordedResponse) return idempotency.replay(reply, written, claim!)
      const task = written ?? (await missing(userId, params.id, expected))
      return reply.header('etag', etagOf(task)).send(task)
    },
  )
}

/** The database refused a recurrence without a due date (checked in the write itself): a validation problem. */
function recurrenceProblem(error: unknown): never {
  if (!(error instanceof RecurrenceWithoutDueDateError)) throw error
  throw invalidRequest([{ path: '/body/recurrence', message: 'needs a due_date: set one, or set recurrence to null' }])
}

export default fp(taskRoutes, {
  name: 'task-routes',
  dependencies: ['repositories', 'opaque-tokens', 'auth', 'rate-limit', 'schemas', 'problems', 'body-parsing', 'clock', 'idempotency'],
  // Registered once per path style, each with its own prefix and hooks.
  encapsulate: true,
})
