import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify'
import fp from 'fastify-plugin'
import { STATEMENT_TIMEOUT_MS } from '../db/deadline.js'
import { databaseFault, type DatabaseFault } from '../db/errors.js'
import type { Static } from '@sinclair/typebox'
import { HttpProblem, invalidRequest, sendProblem } from '../http/problem.js'
import { MAX_FIELD_ERRORS, type FieldError } from '../schemas/problem.js'
import { PATTERN_MESSAGES } from '../schemas/patterns.js'
import { unsupportedMediaType } from './body-parsing.js'
import { answerHeaders } from './security-headers.js'

/**
 * Answers any error as problem+json. Only messages written for clients reach the response: validation
 * messages, Fastify's own 4xx messages and our HttpProblems; anything else is logged and answered with a
 * request id only. Also used for the router's own errors (src/app.ts), which no error handler sees.
 */
export function sendErrorProblem (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // Router errors and errors of the first hooks come before the hook that sets these: set them here too.
  reply.headers(answerHeaders(request.url))
  // Fastify's own 415, for a Content-Type that is not a media type at all, says what to send as ours does.
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendProblem(request, reply, 415, unsupportedMediaType(request).detail)
  if (error instanceof HttpProblem) {
    reply.headers(error.headers)
    return sendProblem(request, reply, error.status, error.detail, error.errors)
  }
  if (error.validation) {
    const context = error.validationContext as string
    const problem = invalidRequest(error.validation.slice(0, MAX_FIELD_ERRORS).map((issue) => fieldError(context, issue)))
    return sendProblem(request, reply, problem.status, problem.detail, problem.errors)
  }
  const fault = databaseFault(error)
  if (fault !== undefined) {
    request.log.warn({ err: error, fault }, 'database fault')
    const { status, retryAfter, detail } = DATABASE_FAULT_ANSWERS[fault]
    if (retryAfter !== undefined) reply.header('retry-after', retryAfter)
    return sendProblem(request, reply, status, detail)
  }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) return sendProblem(request, reply, status, error.message)
  request.log.error({ err: error }, 'request failed')
  return sendProblem(request, reply, 500, `Something went wrong on our side. Quote request id ${request.id} when reporting it.`)
}

/** Contract §8: 503 with Retry-After when nothing was changed; 504 when a write was sent and its outcome is unknown. */
const DATABASE_FAULT_ANSWERS: Record<DatabaseFault, { status: number; retryAfter?: string; detail: string }> = {
  busy: { status: 503, retryAfter: '1', detail: 'The database is busy; try again in a moment.' },
  unavailable: { status: 503, retryAfter: '5', detail: 'The database is not answering; try again shortly.' },
  cancelled: {
    status: 503,
    retryAfter: '1',
    detail: `The database gave up on the request after ${STATEMENT_TIMEOUT_MS / 1000} s, so nothing was changed; try again shortly.`,
  },
  'outcome-unknown': {
    status: 504,
    detail:
      'The database did not answer in time after the change was sent, so whether it was saved is unknown. ' +
        'Read it again before retrying, or retry with the same Idempotency-Key: a change is never applied twice.',
  },
}

const problems: FastifyPluginAsync = async (fastify) => {
  fastify.setErrorHandler(sendErrorProblem)
  // RFC 9112 §3.2. Node's own check (turned off in src/app.ts) answers a bare 400 without a body or request id.
  fastify.addHook('onRequest', (request, _reply, done) => {
    done(
      request.headers.host === undefined && request.raw.httpVersion === '1.1'
        ? new HttpProblem(400, 'An HTTP/1.1 request must have a Host header.')
        : undefined
    )
  })
  fastify.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, 404, `No route ${request.method} ${request.url.split('?')[0]}`)
  )
}

/**
 * Names the field: `/body/title`, also for a missing or an unknown property, whose Ajv path is the parent; and
 * says what would be accepted where Ajv's words do not (a pattern, a choice, a date-time's offset).
 */
function fieldError (context: string, issue: FastifySchemaValidationError): Static<typeof FieldError> {
  const params = issue.params as {
    missingProperty?: string
    additionalProperty?: string
    allowedValues?: unknown[]
    format?: string
    pattern?: string
  }
  const property = params.missingProperty ?? params.additionalProperty
  const path = `/${context}${issue.instancePath}${property === undefined ? '' : `/${property}`}`
  if (params.additionalProperty !== undefined) return { path, message: 'is not a known field' }
  if (issue.keyword === 'enum') {
    return { path, message: `must be one of ${(params.allowedValues ?? []).map((value) => JSON.stringify(value)).join(', ')}` }
  }
  // What an HTML datetime-local input sends (2026-12-01T10:00) has no offset, and so names no instant.
  if (issue.keyword === 'format' && params.format === 'date-time') return { path, message: DATE_TIME_MESSAGE }
  const patternMessage = issue.keyword === 'pattern' ? PATTERN_MESSAGES[params.pattern as string] : undefined
  if (patternMessage !== undefined) return { path, message: patternMessage }
  return { path, message: issue.message as string }
}

const DATE_TIME_MESSAGE =
  'must be an RFC 3339 date-time with an offset (Z or ±hh:mm), such as 2026-12-01T09:00:00Z or 2026-12-01T10:00:00+01:00'

export default fp(problems, { name: 'problems' })
