import { Type, type TSchema } from '@sinclair/typebox'
import { PROBLEM_CONTENT_TYPE } from '../http/problem.js'
import { Count } from './count.js'
import { REQUEST_ID_PATTERN } from './patterns.js'
import { Problem, ValidationProblem } from './problem.js'
import { ref } from './ref.js'

/**
 * Documented responses, headers included, for the OpenAPI document (and so for generated clients). Fastify
 * serializes bodies with their schemas; the headers are documentation of what the plugins and handlers set.
 */

/** Headers, by name as clients read them. */
export const HEADERS = {
  'X-Request-Id': Type.String({ maxLength: 128, pattern: REQUEST_ID_PATTERN, description: 'The request id: the caller’s `X-Request-Id` when sane, else a new UUID. Logged with the request.' }),
  'Access-Control-Allow-Origin': Type.String({ format: 'uri', maxLength: 2048, description: 'Present when the request’s `Origin` is one of `CORS_ORIGINS`.' }),
  'RateLimit-Limit': Count('Requests allowed per window (`RATE_LIMIT_MAX`).'),
  'RateLimit-Remaining': Count('Requests left in the current window.'),
  'RateLimit-Reset': Count('Seconds until the window resets.'),
  'Retry-After': Count('Seconds to wait before trying again.'),
  'Cache-Control': Type.Literal('no-store', { description: 'The answer holds the caller’s data: no cache may keep it. Revalidate with `If-None-Match`.' }),
  'WWW-Authenticate': Type.String({ maxLength: 200, pattern: '^Bearer', description: '`Bearer`, with `error="invalid_token"` when a token was presented (RFC 6750).' }),
  ETag: Type.String({ maxLength: 64, pattern: '^"[0-9]+"$', description: 'The task’s strong entity tag: send it back in `If-Match` or `If-None-Match`.' }),
  Location: Type.String({ maxLength: 64, pattern: '^/api/tasks/[0-9a-f-]{36}$', description: 'The created task’s URL: `/api/tasks/{id}`.' }),
  Link: Type.String({ maxLength: 4096, pattern: '^<[^>]+>; rel="next"$', description: '`<…&cursor=…>; rel="next"` while more tasks match; absent on the last page.' }),
  'X-Total-Count': Count('How many tasks match the filters, whatever the cursor.'),
  'Idempotency-Replayed': Type.Literal('true', { description: 'Present on a retry with a used `Idempotency-Key`: this is the first response again; nothing was written.' }),
} as const

type HeaderName = keyof typeof HEADERS

/** Headers on every response of an `/api` operation: the rate limiter counts each request, failed ones too. */
const API_HEADERS: HeaderName[] = ['X-Request-Id', 'Cache-Control', 'Access-Control-Allow-Origin', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset']
/** The operational routes are not rate limited. */
const PUBLIC_HEADERS: HeaderName[] = ['X-Request-Id', 'Access-Control-Allow-Origin']

export type Audience = 'api' | 'public'

function headers(audience: Audience, extra: HeaderName[]) {
  const names = [...(audience === 'api' ? API_HEADERS : PUBLIC_HEADERS), ...extra]
  return Object.fromEntries(names.map((name) => [name, HEADERS[name]]))
}

/**
 * A JSON response. The schema itself, not a `content` map by media type, which Fastify would look up for every
 * answer by parsing its Content-Type; @fastify/swagger documents it as application/json all the same.
 */
export function jsonResponse(audience: Audience, description: string, schema: TSchema, extraHeaders: HeaderName[] = []) {
  return { ...schema, description, headers: headers(audience, extraHeaders) }
}

/** A response without a body (204, 304). */
export function emptyResponse(audience: Audience, description: string, extraHeaders: HeaderName[] = []) {
  return { type: 'null', description, headers: headers(audience, extraHeaders) }
}

/** A problem response, served as application/problem+json. */
export function problemResponse(audience: Audience, description: string, schema: TSchema = Problem, extraHeaders: HeaderName[] = []) {
  return { description, headers: headers(audience, extraHeaders), content: { [PROBLEM_CONTENT_TYPE]: { schema: ref(schema) } } }
}

/** What a route of the API may answer besides success, by what it takes. */
export interface ProblemScope {
  /** A request body: it may be unparsable (400), too large (413) or not JSON (415). */
  body?: boolean
  /** A task id in the path: 404 when there is no such task. */
  task?: boolean
  /** A task id or a user id in the path: 403 when it is not the caller's. */
  owned?: boolean
  /** Honours If-Match: 412 when the task has changed. */
  conditional?: boolean
  /** Takes an Idempotency-Key: 409 while the first request with it is still running. */
  idempotent?: boolean
  /** Takes a sync token: 410 when tombstones it still needs have been purged. */
  gone?: boolean
  /** Writes (every idempotent route does): 504 when its statement was sent and no answer came in time. */
  write?: boolean
}

export function apiProblems({ body = false, task = false, owned = false, conditional = false, idempotent = false, gone = false, write = idempotent }: ProblemScope) {
  return {
    ...(body && { 400: problemResponse('api', 'The body is not valid JSON.') }),
    401: problemResponse('api', 'Missing, invalid or expired bearer token.', Problem, ['WWW-Authenticate']),
    ...(owned && { 403: problemResponse('api', 'The task, or the user in the path, is not the caller’s.') }),
    ...(task && { 404: problemResponse('api', 'No task has this id.') }),
    ...(idempotent && { 409: problemResponse('api', 'A request with this `Idempotency-Key` is still running; retry after `Retry-After` seconds.', Problem, ['Retry-After']) }),
    ...(gone && { 410: problemResponse('api', 'Deleted tasks the sync token still needs have been purged: sync again without `since`.') }),
    ...(conditional && { 412: problemResponse('api', '`If-Match` does not match: the task changed. Nothing was written; the task’s current `ETag` is sent.', Problem, ['ETag']) }),
    ...(body && { 413: problemResponse('api', 'The body is larger than `BODY_LIMIT` bytes.') }),
    ...(body && { 415: problemResponse('api', 'The body is not `application/json`.') }),
    422: problemResponse(
      'api',
      idempotent ? 'The request breaks the schema, or reuses an `Idempotency-Key` for another request; `errors` names each field.' : 'The request breaks the schema; `errors` names each field.',
      ValidationProblem,
    ),
    429: problemResponse('api', 'The caller’s rate limit is spent; retry after `Retry-After` seconds.', Problem, ['Retry-After']),
    500: problemResponse('api', 'Unexpected error; quote the request id when reporting it.'),
    503: problemResponse('api', 'The database, or the keys to check tokens with, cannot be reached; nothing was changed. Retry after `Retry-After` seconds.', Problem, ['Retry-After']),
    ...(write && {
      504: problemResponse('api', 'The database did not answer in time after the change was sent: whether it was saved is unknown. Read it again, or retry with the same `Idempotency-Key`.'),
    }),
  }
}
