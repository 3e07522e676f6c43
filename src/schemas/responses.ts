import { Type, type TSchema } from '@sinclair/typebox'
import { PROBLEM_CONTENT_TYPE } from '../http/problem.js'
import type { SharedResponse } from './components.js'
import { Count } from './count.js'
import { REQUEST_ID_PATTERN } from './patterns.js'
import { Problem, ValidationProblem } from './problem.js'
import { ref } from './ref.js'

/**
 * Documented responses, headers included, for the OpenAPI document (and so for generated clients). Fastify
 * serializes bodies with their schemas; the headers are documentation of what the plugins and handlers set.
 */

/** Headers, by name as clients read them. */
const HEADERS = {
  'X-Request-Id': Type.String({
    maxLength: 128,
    pattern: REQUEST_ID_PATTERN,
    description: 'The request id: the caller’s `X-Request-Id` when sane, else a new UUID. Logged with the request.',
  }),
  'Access-Control-Allow-Origin': Type.String({
    format: 'uri',
    maxLength: 2048,
    description: 'Present when the request’s `Origin` is one of `CORS_ORIGINS`.',
  }),
  'RateLimit-Limit': Count('Requests allowed per window (`RATE_LIMIT_MAX`).'),
  'RateLimit-Remaining': Count('Requests left in the current window.'),
  'RateLimit-Reset': Count('Seconds until the window resets.'),
  'Retry-After': Count('Seconds to wait before trying again.'),
  'Cache-Control': Type.Literal('no-store', {
    description: 'The answer holds the caller’s data: no cache may keep it. Revalidate with `If-None-Match`.',
  }),
  'WWW-Authenticate': Type.String({
    maxLength: 200,
    pattern: '^Bearer',
    description: '`Bearer`, with `error="invalid_token"` when a token was presented (RFC 6750).',
  }),
  ETag: Type.String({
    maxLength: 64,
    pattern: '^"[0-9]+"$',
    description: 'The task’s strong entity tag: send it back in `If-Match` or `If-None-Match`.',
  }),
  Location: Type.String({
    maxLength: 64,
    pattern: '^/api/tasks/[0-9a-f-]{36}$',
    description: 'The created task’s URL: `/api/tasks/{id}`.',
  }),
  Link: Type.String({
    maxLength: 4096,
    pattern: '^<[^>]+>; rel="next"$',
    description: '`<…&cursor=…>; rel="next"` while more tasks match; absent on the last page.',
  }),
  'X-Total-Count': Count('How many tasks match the filters, whatever the cursor.'),
  'Idempotency-Replayed': Type.Literal('true', {
    description: 'Present on a retry with a used `Idempotency-Key`: this is the first response again; nothing was written.',
  }),
} as const

type HeaderName = keyof typeof HEADERS

/** Sent only sometimes where declared: on CORS requests, while more pages follow, on replays. The others always are. */
export const OCCASIONAL_HEADERS: HeaderName[] = ['Access-Control-Allow-Origin', 'Link', 'Idempotency-Replayed']

/** Headers on every response of an `/api` operation: the rate limiter counts each request, failed ones too. */
const API_HEADERS: HeaderName[] = [
  'X-Request-Id',
  'Cache-Control',
  'Access-Control-Allow-Origin',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
]
/** The operational routes are not rate limited. */
const PUBLIC_HEADERS: HeaderName[] = ['X-Request-Id', 'Access-Control-Allow-Origin']

export type Audience = 'api' | 'public'

function headers (audience: Audience, extra: HeaderName[]) {
  const names = [...(audience === 'api' ? API_HEADERS : PUBLIC_HEADERS), ...extra]
  return Object.fromEntries(names.map((name) => [name, HEADERS[name]]))
}

/**
 * A JSON response. The schema itself, not a `content` map by media type, which Fastify would look up for every
 * answer by parsing its Content-Type; @fastify/swagger documents it as application/json all the same.
 */
export function jsonResponse (audience: Audience, description: string, schema: TSchema, extraHeaders: HeaderName[] = []) {
  return { ...schema, description, headers: headers(audience, extraHeaders) }
}

/** A response without a body (204, 304). */
export function emptyResponse (audience: Audience, description: string, extraHeaders: HeaderName[] = []) {
  return { type: 'null', description, headers: headers(audience, extraHeaders) }
}

/** A problem response, served as application/problem+json. */
export function problemResponse (audience: Audience, description: string, schema: TSchema = Problem, extraHeaders: HeaderName[] = []) {
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

/**
 * A problem answer many operations give alike, word for word: the OpenAPI document holds it once, as
 * `components.responses.<name>`, and the operations refer to it (see components.ts).
 */
interface SharedProblem extends SharedResponse {
  headers: HeaderName[]
  /** As the routes declare it. */
  response: ReturnType<typeof problemResponse>
}

function sharedProblem (
  name: string,
  status: number,
  description: string,
  schema: TSchema = Problem,
  extraHeaders: HeaderName[] = []
): SharedProblem {
  return {
    name,
    status,
    description,
    schema: schema.$id as string,
    headers: [...API_HEADERS, ...extraHeaders],
    response: problemResponse('api', description, schema, extraHeaders),
  }
}

/** The problems of the `/api` operations, each written once. */
export const SHARED_PROBLEMS = {
  invalidJson: sharedProblem('InvalidJson', 400, 'The body is not valid JSON.'),
  unauthorized: sharedProblem('Unauthorized', 401, 'Missing, invalid or expired bearer token.', Problem, ['WWW-Authenticate']),
  forbidden: sharedProblem('Forbidden', 403, 'The task, or the user in the path, is not the caller’s.'),
  notFound: sharedProblem('NotFound', 404, 'No task has this id.'),
  stillRunning: sharedProblem(
    'IdempotencyKeyInUse',
    409,
    'A request with this `Idempotency-Key` is still running; retry after `Retry-After` seconds.',
    Problem,
    ['Retry-After']
  ),
  purged: sharedProblem('SyncTokenExpired', 410, 'Deleted tasks the sync token still needs have been purged: sync again without `since`.'),
  changed: sharedProblem(
    'PreconditionFailed',
    412,
    '`If-Match` does not match: the task changed. Nothing was written; the task’s current `ETag` is sent.',
    Problem,
    ['ETag']
  ),
  tooLarge: sharedProblem('ContentTooLarge', 413, 'The body is larger than `BODY_LIMIT` bytes.'),
  notJson: sharedProblem('UnsupportedMediaType', 415, 'The body is not `application/json`.'),
  invalid: sharedProblem('ValidationFailed', 422, 'The request breaks the schema; `errors` names each field.', ValidationProblem),
  invalidOrKeyReused: sharedProblem(
    'ValidationFailedOrKeyReused',
    422,
    'The request breaks the schema, or reuses an `Idempotency-Key` for another request; `errors` names each field.',
    ValidationProblem
  ),
  rateLimited: sharedProblem(
    'TooManyRequests',
    429,
    'The caller’s rate limit is spent; retry after `Retry-After` seconds.',
    Problem,
    ['Retry-After']
  ),
  unexpected: sharedProblem('InternalError', 500, 'Unexpected error; quote the request id when reporting it.'),
  unavailable: sharedProblem(
    'ServiceUnavailable',
    503,
    'The database, or the keys to check tokens with, cannot be reached; nothing was changed. Retry after `Retry-After` seconds.',
    Problem,
    ['Retry-After']
  ),
  outcomeUnknown: sharedProblem(
    'OutcomeUnknown',
    504,
    'The database did not answer in time after the change was sent: whether it was saved is unknown. ' +
      'Read it again, or retry with the same `Idempotency-Key`.'
  ),
} satisfies Record<string, SharedProblem>

export function apiProblems ({
  body = false,
  task = false,
  owned = false,
  conditional = false,
  idempotent = false,
  gone = false,
  write = idempotent,
}: ProblemScope) {
  return {
    ...(body && { 400: SHARED_PROBLEMS.invalidJson.response }),
    401: SHARED_PROBLEMS.unauthorized.response,
    ...(owned && { 403: SHARED_PROBLEMS.forbidden.response }),
    ...(task && { 404: SHARED_PROBLEMS.notFound.response }),
    ...(idempotent && { 409: SHARED_PROBLEMS.stillRunning.response }),
    ...(gone && { 410: SHARED_PROBLEMS.purged.response }),
    ...(conditional && { 412: SHARED_PROBLEMS.changed.response }),
    ...(body && { 413: SHARED_PROBLEMS.tooLarge.response }),
    ...(body && { 415: SHARED_PROBLEMS.notJson.response }),
    422: (idempotent ? SHARED_PROBLEMS.invalidOrKeyReused : SHARED_PROBLEMS.invalid).response,
    429: SHARED_PROBLEMS.rateLimited.response,
    500: SHARED_PROBLEMS.unexpected.response,
    503: SHARED_PROBLEMS.unavailable.response,
    ...(write && { 504: SHARED_PROBLEMS.outcomeUnknown.response }),
  }
}
