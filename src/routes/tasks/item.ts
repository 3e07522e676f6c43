import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { etagOf, ifMatchVersions, ifNoneMatchMatches } from '../../http/etag.js'
import { HttpProblem } from '../../http/problem.js'
import type { ExpectedVersions, IdempotencyClaim, WriteResult } from '../../repositories/tasks.js'
import { NoQuery } from '../../schemas/no-query.js'
import { ref } from '../../schemas/ref.js'
import { IfNoneMatchHeader, TaskWriteHeaders } from '../../schemas/request-headers.js'
import { apiProblems, emptyResponse, jsonResponse } from '../../schemas/responses.js'
import { Task as TaskSchema, TaskCompletion, TaskUpdate } from '../../schemas/task.js'
import type { PathStyle } from './path-style.js'
import { taskFields } from './task-input.js'
import { sendWrite } from './write-response.js'

/** A request to write one task: its id in the path, and maybe an `If-Match`. */
type TaskWriteRequest = FastifyRequest & { params: { id: string }; headers: { 'if-match'?: string } }

/** One task: read it, update it, delete it, complete it. */
const itemRoutes: FastifyPluginAsync<PathStyle> = async (plugin, { operationId, itemParams }) => {
  const fastify = plugin.withTypeProvider<TypeBoxTypeProvider>()
  const repository = fastify.taskRepository
  const { idempotency } = fastify
  /** What every write to one task takes: its id in the path, no query, `If-Match` and `Idempotency-Key`. */
  const taskWriteInput = { params: itemParams, querystring: NoQuery, headers: TaskWriteHeaders }

  /**
   * The answer to a scoped miss: 403 (another user's task), 404 (no such task) or, when the write had an
   * `If-Match` the caller's task no longer satisfies, 412 with the task's current ETag. Always throws; a hit
   * never calls it (`task ?? (await missing(…))`), so the usual request costs no extra promise.
   */
  async function missing (userId: string, id: string, expected?: ExpectedVersions): Promise<never> {
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

  /** A write to the task the path names, under the request's `If-Match`; a miss is answered by `missing`. */
  function sendTaskWrite (
    request: TaskWriteRequest,
    reply: FastifyReply,
    status: 200 | 204,
    write: (expected: ExpectedVersions, claim: IdempotencyClaim | undefined) => Promise<WriteResult>
  ): Promise<FastifyReply> {
    const expected = ifMatchVersions(request.headers['if-match'])
    return sendWrite(
      idempotency,
      request,
      reply,
      status,
      (claim) => write(expected, claim),
      () => missing(request.userId, request.params.id, expected)
    )
  }

  fastify.get(
    '/:id',
    {
      schema: {
        operationId: operationId('getTask'),
        tags: ['tasks'],
        summary: 'Get one task',
        description: 'With `If-None-Match` holding the task’s current `ETag`, answers `304` without a body.',
        params: itemParams,
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
    }
  )

  fastify.put(
    '/:id',
    {
      schema: {
        operationId: operationId('updateTask'),
        tags: ['tasks'],
        summary: 'Update some fields of a task',
        description:
          'Fields not sent keep their values. `"completed": true` on a recurring task creates its next occurrence. ' +
            'With `If-Match`, writes only if the task has not changed (`412` otherwise).',
        ...taskWriteInput,
        body: ref(TaskUpdate),
        response: {
          200: jsonResponse('api', 'The task as updated.', ref(TaskSchema), ['ETag', 'Idempotency-Replayed']),
          ...apiProblems({ body: true, task: true, owned: true, conditional: true, idempotent: true }),
        },
      },
    },
    async (request, reply) => {
      const { userId, params, body } = request
      return sendTaskWrite(request, reply, 200, (expected, claim) =>
        repository.update(userId, params.id, taskFields(body), expected, claim)
      )
    }
  )

  fastify.delete(
    '/:id',
    {
      schema: {
        operationId: operationId('deleteTask'),
        tags: ['tasks'],
        summary: 'Delete a task',
        description: 'With `If-Match`, deletes only if the task has not changed (`412` otherwise).',
        ...taskWriteInput,
        response: {
          204: emptyResponse('api', 'Deleted.', ['Idempotency-Replayed']),
          ...apiProblems({ task: true, owned: true, conditional: true, idempotent: true }),
        },
      },
    },
    async (request, reply) =>
      sendTaskWrite(request, reply, 204, (expected, claim) => repository.delete(request.userId, request.params.id, expected, claim))
  )

  fastify.patch(
    '/:id/complete',
    {
      schema: {
        operationId: operationId('setTaskCompletion'),
        tags: ['tasks'],
        summary: 'Toggle a task, or set whether it is completed',
        description:
          'No body, an empty body or `{}` toggles `completed`; `{"completed": true|false}` sets it, and repeating that changes nothing. ' +
            'Completing a recurring task creates its next occurrence, once. ' +
            'With `If-Match`, writes only if the task has not changed (`412` otherwise).',
        ...taskWriteInput,
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
      const { userId, params, body } = request
      return sendTaskWrite(request, reply, 200, (expected, claim) =>
        body.completed === undefined
          ? repository.toggleCompleted(userId, params.id, expected, claim)
          : repository.update(userId, params.id, { completed: body.completed }, expected, claim)
      )
    }
  )
}

export default itemRoutes
