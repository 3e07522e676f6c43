import type { FastifyReply, FastifyRequest } from 'fastify'
import { invalidRequest } from '../../http/problem.js'
import { sendTask } from '../../http/task-response.js'
import type { IdempotentWrites } from '../../plugins/idempotency.js'
import {
  RecordedResponse,
  RecurrenceWithoutDueDateError,
  type IdempotencyClaim,
  type Task,
  type WriteResult,
} from '../../repositories/tasks.js'

/**
 * Runs a task write and answers it, the same way for every write: claim the request's Idempotency-Key, run the
 * write once (a retry of a request still running waits for it), send a recorded response again, answer a miss
 * (403, 404 or 412, from `missing`), else send the task with its ETag: 201 with its Location, 200, or 204 empty.
 * A create cannot miss, so it passes no `missing`.
 */
export async function sendWrite (
  idempotency: IdempotentWrites,
  request: FastifyRequest,
  reply: FastifyReply,
  status: 201,
  write: (claim: IdempotencyClaim | undefined) => Promise<Task | RecordedResponse>,
): Promise<FastifyReply>
export async function sendWrite (
  idempotency: IdempotentWrites,
  request: FastifyRequest,
  reply: FastifyReply,
  status: 200 | 204,
  write: (claim: IdempotencyClaim | undefined) => Promise<WriteResult>,
  missing: () => Promise<never>,
): Promise<FastifyReply>
export async function sendWrite (
  idempotency: IdempotentWrites,
  request: FastifyRequest,
  reply: FastifyReply,
  status: 200 | 201 | 204,
  write: (claim: IdempotencyClaim | undefined) => Promise<WriteResult>,
  missing?: () => Promise<never>
): Promise<FastifyReply> {
  const claim = idempotency.claim(request, status)
  const written = await idempotency.once(request, claim, () => write(claim)).catch(recurrenceProblem)
  if (written instanceof RecordedResponse) return idempotency.replay(reply, written, claim!)
  const task = written ?? (await missing!())
  return sendTask(reply, status, status === 204 ? null : task)
}

/**
 * The database refused a write that would leave a recurrence without a due date (checked in the write itself):
 * a validation problem, whichever write it was.
 */
function recurrenceProblem (error: unknown): never {
  if (!(error instanceof RecurrenceWithoutDueDateError)) throw error
  throw invalidRequest([{ path: '/body/recurrence', message: 'needs a due_date: set one, or set recurrence to null' }])
}
