import type { FastifyReply } from 'fastify'
import type { Task } from '../repositories/tasks.js'
import { etagOf } from './etag.js'

/** Where a created task lives; the same on the first response and on its replays. */
export const locationOf = (task: Task) => `/api/tasks/${task.id}`

/**
 * A task write's answer, first or replayed: 201 with the task's Location, 200, or 204 without a body; an answer
 * carrying the task carries its ETag.
 */
export function sendTask (reply: FastifyReply, status: number, task: Task | null): FastifyReply {
  reply.code(status)
  if (task === null) return reply.send()
  if (status === 201) reply.header('location', locationOf(task))
  return reply.header('etag', etagOf(task)).send(task)
}
