import { DrizzleQueryError } from 'drizzle-orm'
import type { FastifyLoggerOptions, FastifyRequest } from 'fastify'
import type { Config } from './config.js'
import { sqlState } from './db/errors.js'

/** Stands where a value was left out of a log line. */
const REDACTED = '[Redacted]'

/**
 * The fields of an error worth logging that hold no user data: PostgreSQL's own that name things (never
 * `detail`, `where` or `internalQuery`, which quote rows and values; nor the `params` some drivers attach) and
 * a socket error's, which say where the connection went.
 */
const NAMING_FIELDS = [
  'code',
  'severity',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'routine',
  'syscall',
  'address',
  'port',
] as const

/** Causes deeper than this are left out (a cause chain can be circular). */
const MAX_CAUSES = 5

interface LoggedError {
  type: string
  message: string
  stack: string
  cause?: unknown
  errors?: unknown[]
  [field: string]: unknown
}

/**
 * Pino's options for the server and for the tests that log: no user data reaches a log line beyond the user
 * id. Errors are logged with their SQL but not its parameters (titles, user ids), and requests with their path
 * and the names of their query parameters but not the values (a token sent as `?access_token=`, search text).
 */
export function loggerOptions (level: Config['LOG_LEVEL']): FastifyLoggerOptions {
  return { level, serializers: { err: (error) => loggedError(error, 0), req: loggedRequest } }
}

function loggedError (error: Error, depth: number): LoggedError {
  const type = error.constructor.name
  const message = safeMessage(error)
  // The stack's first lines repeat the original message: only its frames are kept.
  const frames = error.stack?.indexOf('\n    at ') ?? -1
  const logged: LoggedError = { type, message, stack: `${type}: ${message}${frames >= 0 ? error.stack!.slice(frames) : ''}` }
  for (const field of NAMING_FIELDS) {
    const value = (error as unknown as Record<string, unknown>)[field]
    if (value !== undefined && value !== null) logged[field] = value
  }
  if (depth < MAX_CAUSES) {
    if (error.cause !== undefined) logged.cause = loggedCause(error.cause, depth + 1)
    if (error instanceof AggregateError) logged.errors = error.errors.map((inner: unknown) => loggedCause(inner, depth + 1))
  }
  return logged
}

/** A cause may be anything; only an Error can carry user data the way drivers put it there. */
function loggedCause (cause: unknown, depth: number): unknown {
  return cause instanceof Error ? loggedError(cause, depth) : typeof cause === 'string' ? cause : String(cause)
}

/**
 * Drizzle's message appends the statement's parameters: only the statement is kept. PostgreSQL quotes the
 * value it could not read in a data exception's message (SQLSTATE class 22: `invalid input syntax for type
 * uuid: "…"`): quoted text is left out of those.
 */
function safeMessage (error: Error): string {
  if (error instanceof DrizzleQueryError) return `Failed query: ${error.query}`
  if (sqlState(error)?.startsWith('22')) return error.message.replace(/"(?:[^"]|"")*"/g, `"${REDACTED}"`)
  return error.message
}

function loggedRequest (request: FastifyRequest) {
  return {
    method: request.method,
    url: withoutQueryValues(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}

/** `/api/tasks?access_token=…&q=…` → `/api/tasks?access_token=[Redacted]&q=[Redacted]`. */
function withoutQueryValues (url: string): string {
  const query = url.indexOf('?')
  if (query < 0) return url
  const names = url
    .slice(query + 1)
    .split('&')
    .map((pair) => (pair.includes('=') ? `${pair.slice(0, pair.indexOf('='))}=${REDACTED}` : pair))
  return `${url.slice(0, query)}?${names.join('&')}`
}
