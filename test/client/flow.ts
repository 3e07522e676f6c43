/**
 * A client of the Tasks API as a frontend would write one: openapi-fetch, typed by the `paths` that
 * openapi-typescript generated from the document the server serves at /docs/json (test/client.test.ts writes
 * ./generated/tasks-api.d.ts and type-checks this file against it with test/client/tsconfig.json).
 *
 * Only the generated types and openapi-fetch are imported, never the server's code or the test harness: what
 * compiles here compiles for any client of the published document. The flow returns what it saw, and the test
 * asserts on it.
 */
import createClient from 'openapi-fetch'
import type { components, paths } from './generated/tasks-api.js'
import type { FlowOptions, FlowResult, SeenProblem, SeenValidationProblem } from './result.js'

export type Task = components['schemas']['Task']
export type TaskCreate = components['schemas']['TaskCreate']
export type TaskStats = components['schemas']['TaskStats']
export type Problem = components['schemas']['Problem']
export type ValidationProblem = components['schemas']['ValidationProblem']
export type Priority = Task['priority']
type ListQuery = NonNullable<paths['/api/tasks']['get']['parameters']['query']>

// Compile-time checks that the generated types are precise: an `any` would let every line below compile.
type IsAny<T> = 0 extends 1 & T ? true : false
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Assert<T extends true> = T
export type GeneratedTypesArePrecise = [
  Assert<Equals<IsAny<Task>, false>>,
  Assert<Equals<IsAny<Problem>, false>>,
  Assert<Equals<Priority, 'low' | 'medium' | 'high'>>,
  Assert<Equals<Task['recurrence'], 'daily' | 'weekly' | 'monthly' | 'yearly' | null>>,
  Assert<Equals<ValidationProblem['status'], 422>>,
  Assert<Equals<ValidationProblem['errors'][number], { path: string; message: string }>>,
  Assert<Equals<TaskStats['by_priority'], { low: number; medium: number; high: number }>>,
  // The list takes repeated `priority` and `tag` parameters.
  Assert<Equals<ListQuery['priority'], Priority[] | undefined>>,
  Assert<Equals<ListQuery['tag'], string[] | undefined>>,
]

/** Tasks the flow creates: five of them match the list filters below, two do not. */
const SEED: TaskCreate[] = [
  { title: 'Alpha report', priority: 'high', tags: ['Client', 'work'] },
  { title: 'Bravo call', priority: 'medium', tags: ['client'], description: 'Ring them back' },
  { title: 'Charlie email', priority: 'high', tags: ['client'] },
  { title: 'Delta invoice', priority: 'low', tags: ['client'] },
  { title: 'Echo review', priority: 'high', tags: ['other'] },
  { title: 'Foxtrot plan', priority: 'medium', tags: [' CLIENT ', 'work'] },
  { title: 'Golf sync', priority: 'high', tags: ['client'] },
]

export async function runFlow({ baseUrl, user, otherUser }: FlowOptions): Promise<FlowResult> {
  const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${user.token}` } })
  const otherClient = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${otherUser.token}` } })
  const anonymous = createClient<paths>({ baseUrl })
  const forged = createClient<paths>({ baseUrl, headers: { Authorization: 'Bearer not.a-valid.token' } })

  // Create: 201, the task, and its canonical URL in Location.
  const created: FlowResult['created'] = []
  for (const body of SEED) {
    const { data, error, response } = await client.POST('/api/tasks', { body })
    if (error) throw unexpected('POST /api/tasks', response, error)
    created.push({ ...summary(data), location: response.headers.get('location') })
  }
  const bravo = created[1]
  const alpha = created[0]
  if (bravo === undefined || alpha === undefined) throw new Error('the seed tasks were not created')

  // List with filters, and follow Link rel="next" to the end.
  const query = { priority: ['high', 'medium'], tag: ['client'], sort: 'title', limit: 2 } satisfies ListQuery
  const pages: FlowResult['listing']['pages'] = []
  let cursor: string | undefined
  do {
    const { data, error, response } = await client.GET('/api/tasks', {
      params: { query: cursor === undefined ? query : { ...query, cursor } },
    })
    if (error) throw unexpected('GET /api/tasks', response, error)
    const next = nextLink(response.headers.get('link'))
    const totalCount = response.headers.get('x-total-count')
    pages.push({ titles: data.map(titleOf), totalCount: totalCount === null ? null : Number(totalCount), next })
    cursor = next === null ? undefined : (new URL(next, baseUrl).searchParams.get('cursor') ?? undefined)
    if (pages.length > 10) throw new Error('the Link header never ended')
  } while (cursor !== undefined)

  // Get one, then update it, guarded by its ETag (a typed, optional If-Match header parameter).
  const got = await client.GET('/api/tasks/{id}', { params: { path: { id: bravo.id } } })
  if (got.error) throw unexpected('GET /api/tasks/{id}', got.response, got.error)
  const etag = got.response.headers.get('etag')
  if (etag === null) throw new Error('GET /api/tasks/{id} sent no ETag')
  const fetched = { title: titleOf(got.data), etag }

  const inUserPath = await client.GET('/api/{user_id}/tasks/{id}', { params: { path: { user_id: user.id, id: bravo.id } } })
  if (inUserPath.error) throw unexpected('GET /api/{user_id}/tasks/{id}', inUserPath.response, inUserPath.error)
  const fetchedThroughUserPath = { id: inUserPath.data.id, user_id: inUserPath.data.user_id }

  const put = await client.PUT('/api/tasks/{id}', {
    params: { path: { id: bravo.id }, header: { 'if-match': etag } },
    body: { title: 'Bravo call, rescheduled', priority: 'high', description: null },
  })
  if (put.error) throw unexpected('PUT /api/tasks/{id}', put.response, put.error)
  const updated = {
    title: put.data.title,
    priority: put.data.priority,
    description: put.data.description,
    etag: put.response.headers.get('etag'),
  }
  // A second writer still holding the old ETag loses: 412, and the task keeps the first write.
  const lostUpdate = await client.PUT('/api/tasks/{id}', {
    params: { path: { id: bravo.id }, header: { 'if-match': etag } },
    body: { title: 'Bravo call, overwritten' },
  })

  // Complete it (idempotent form), count, delete.
  const done = await client.PATCH('/api/tasks/{id}/complete', { params: { path: { id: bravo.id } }, body: { completed: true } })
  if (done.error) throw unexpected('PATCH /api/tasks/{id}/complete', done.response, done.error)
  const completed = { completed: done.data.completed, completedAtIsSet: done.data.completed_at !== null }

  const counted = await client.GET('/api/tasks/stats')
  if (counted.error) throw unexpected('GET /api/tasks/stats', counted.response, counted.error)
  const stats: TaskStats = counted.data

  const removed = await client.DELETE('/api/tasks/{id}', { params: { path: { id: bravo.id } } })
  if (removed.error) throw unexpected('DELETE /api/tasks/{id}', removed.response, removed.error)
  const gone = await client.GET('/api/tasks/{id}', { params: { path: { id: bravo.id } } })
  const deleted = { status: removed.response.status, getAfterwards: gone.response.status }

  // Typed error bodies. Each `error` is typed from the operation's documented responses; assigning it to
  // Problem proves that every documented error of the operation is (at least) a problem document.
  const noToken = await anonymous.GET('/api/tasks')
  const badToken = await forged.GET('/api/tasks/{id}', { params: { path: { id: alpha.id } } })
  const notYours = await otherClient.GET('/api/tasks/{id}', { params: { path: { id: alpha.id } } })
  const wrongUser = await client.GET('/api/{user_id}/tasks/{id}', { params: { path: { user_id: otherUser.id, id: alpha.id } } })
  const unknown = await client.GET('/api/tasks/{id}', { params: { path: { id: '00000000-0000-7000-8000-000000000000' } } })
  const emptyTitle = await client.POST('/api/tasks', { body: { title: '' } })
  const wrongPriority = await client.POST('/api/tasks', {
    // @ts-expect-error `urgent` is not a priority: the generated TaskCreate only takes low, medium or high.
    body: { title: 'Wrong priority', priority: 'urgent' },
  })

  return {
    created,
    listing: { query, pages },
    fetched,
    fetchedThroughUserPath,
    updated,
    completed,
    stats,
    deleted,
    errors: {
      missingToken: { ...problem(noToken), wwwAuthenticate: noToken.response.headers.get('www-authenticate') },
      invalidToken: { ...problem(badToken), wwwAuthenticate: badToken.response.headers.get('www-authenticate') },
      otherUsersTask: problem(notYours),
      otherUserInPath: problem(wrongUser),
      staleEtag: { ...problem(lostUpdate), currentEtag: lostUpdate.response.headers.get('etag') },
      unknownId: problem(unknown),
      emptyTitle: validationProblem(emptyTitle),
      wrongPriority: validationProblem(wrongPriority),
    },
  }
}

/** Compiles only if the response body really is a Task with these fields (not `unknown`, not `any`). */
function summary(task: Task): { id: string; title: string; priority: Priority; tags: string[] } {
  return { id: task.id, title: task.title, priority: task.priority, tags: task.tags }
}

function titleOf(task: Task): string {
  return task.title
}

/** The target of the first `rel="next"` link in an RFC 8288 Link header, or null. */
export function nextLink(header: string | null): string | null {
  for (const [, target, params] of (header ?? '').matchAll(/<([^>]*)>((?:\s*;\s*[^;,]+)*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))/i.exec(params ?? '')
    const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/)
    if (target !== undefined && relations.includes('next')) return target
  }
  return null
}

/** An error answer as a Problem; the parameter type makes the compiler check the operation's error bodies. */
function problem(result: { error?: Problem; response: Response }): SeenProblem {
  if (result.error === undefined) throw new Error(`expected a problem, got ${result.response.status}`)
  const { status, title, detail, request_id } = result.error
  return {
    status,
    title,
    detail,
    requestIdMatchesHeader: request_id === result.response.headers.get('x-request-id'),
    contentType: result.response.headers.get('content-type'),
  }
}

/** A 422 answer: narrowed from the operation's error union to ValidationProblem by its `errors` list. */
function validationProblem(result: { error?: Problem | ValidationProblem; response: Response }): SeenValidationProblem {
  const { error } = result
  if (error === undefined || !('errors' in error)) throw new Error(`expected a validation problem, got ${result.response.status}`)
  const invalid: ValidationProblem = error
  const firstPath = invalid.errors[0]?.path
  if (firstPath === undefined) throw new Error('a validation problem without errors')
  return { ...problem(result), firstPath, paths: invalid.errors.map((fieldError) => fieldError.path) }
}

function unexpected(what: string, response: Response, error: Problem): Error {
  return new Error(`${what}: ${response.status} ${error.title}: ${error.detail}`)
}
