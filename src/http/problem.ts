import { STATUS_CODES } from 'node:http'
import type { Static } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FieldError } from '../schemas/problem.js'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/** An error that is the client's business: its status and detail are safe to show to the caller. */
export class HttpProblem extends Error {
  constructor (
    readonly status: number,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
    readonly errors?: Static<typeof FieldError>[]
  ) {
    super(detail)
  }
}

/** A 422 naming each invalid field, worded as schema validation words it: `The request is invalid: /body/x …`. */
export function invalidRequest (errors: Static<typeof FieldError>[]): HttpProblem {
  const detail = errors.map((issue) => `${issue.path} ${issue.message}`).join('; ')
  return new HttpProblem(422, `The request is invalid: ${detail}`, {}, errors)
}

/** Sends an RFC 9457 problem document; every one carries the request id so support can find the log line. */
export function sendProblem (
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  detail: string,
  errors?: Static<typeof FieldError>[]
): FastifyReply {
  return reply
    .code(status)
    .header('x-request-id', request.id)
    .type(PROBLEM_CONTENT_TYPE)
    .send({
      type: 'about:blank',
      // Every status sent here is a standard one, so Node knows its phrase.
      title: STATUS_CODES[status] as string,
      status,
      detail,
      request_id: request.id,
      ...(errors && { errors }),
    })
}
