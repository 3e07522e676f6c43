/**
 * A client of the Tasks API as a frontend would write one: openapi-fetch, typed by the `paths` that
 * openapi-typescript generated from the document the server serves at /docs/json (test/client.test.ts writes
 * ./generated/tasks-api.d.ts and type-checks this file against it with test/client/tsconfig.json).
 *
 * Only the generated types and openapi-fetch are imported, never the server's code or the test harness: what
 * compiles here compiles for any client of the published document. The flow returns what it saw, and the test
 * asserts on it.
 */
import createClient, { type Client } from 'openapi-fetch'
import type { components, paths } from './generated/tasks-api.js'
import type { FlowOptions, FlowResult, IdempotentAttempt, SeenProblem, SeenValidationProblem } from './result.js'

export type Task = components['schemas']['Task']
export type TaskCreate = components['schemas']['TaskCreate']
export type TaskStats = components['schemas']['TaskStats']
export type Problem = components['schemas']['Problem']
export type ValidationProblem = components['schemas']['ValidationProblem']
export type Tombstone = components['schemas']['Tombstone']
export type Priority = Task['priority']
type ListQuery = NonNullable<paths['/api/tasks']['get']['parameters']['query']>
/** One item of the change feed, as the operation's 200 body declares it. */
type Change = paths['/api/tasks/changes']['get']['responses'][200]['content']['application/json']['changes'][number]
/** The Idempotency-Key header parameter of a write; the constraint fails to compile if the write lacks it. */
type IdempotencyKeyOf<Operation extends { parameters: { header?: { 'idempotency-key'?: string } } }> = NonNullable<
  Operation['parameters']['header']
>['idempotency-key']

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
  // A change is a task or a tombstone, and `deleted: true` tells them apart: the narrowing in applyChange relies on it.
  Assert<Equals<Change, Task | Tombstone>>,
  Assert<Equals<Extract<Change, { deleted: true }>, Tombstone>>,
  Assert<Equals<Tombstone['deleted'], true>>,
  // Every write takes an optional Idempotency-Key, and a replay says so in a typed header.
  Assert<Equals<IdempotencyKeyOf<paths['/api/tasks']['post']>, string | undefined>>,
  Assert<Equals<IdempotencyKeyOf<paths['/api/tasks/{id}']['put']>, string | undefined>>,
  Assert<Equals<IdempotencyKeyOf<paths['/api/tasks/{id}/complete']['patch']>, string | undefined>>,
  Assert<Equals<IdempotencyKeyOf<paths['/api/tasks/{id}']['delete']>, string | undefined>>,
  Assert<Equals<paths['/api/tasks']['post']['responses'][201]['headers']['Idempotency-Replayed'], 'true' | undefined>>
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

export async function runFlow ({ baseUrl, user, otherUser }: FlowOptions): Promise<FlowResult> {
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

  // Sync: a replica kept by the change feed alone. From nothing, in small pages (`next` followed while
  // `has_more`), then a delete and an update through the client, then an incremental pull from the stored `next`.
  const charlie = created[2]
  const delta = created[3]
  if (charlie === undefined || delta === undefined) throw new Error('the seed tasks were not created')
  const SYNC_LIMIT = 2
  const replica = new Map<string, Task>()
  const full = await pullChanges(client, replica, undefined, SYNC_LIMIT)

  const dropped = await client.DELETE('/api/tasks/{id}', { params: { path: { id: charlie.id } } })
  if (dropped.error) throw unexpected('DELETE /api/tasks/{id}', dropped.response, dropped.error)
  const renamed = await client.PUT('/api/tasks/{id}', { params: { path: { id: delta.id } }, body: { title: 'Delta invoice, paid' } })
  if (renamed.error) throw unexpected('PUT /api/tasks/{id}', renamed.response, renamed.error)

  const incremental = await pullChanges(client, replica, full.next, SYNC_LIMIT)
  const listed = await client.GET('/api/tasks', { params: { query: { limit: 500 } } })
  if (listed.error) throw unexpected('GET /api/tasks', listed.response, listed.error)
  // The live set is compared whole: a second page would make it partial.
  if (nextLink(listed.response.headers.get('link')) !== null) throw new Error('GET /api/tasks did not fit on one page')
  const pulled = [...full.changes, ...incremental.changes]
  const sync: FlowResult['sync'] = {
    limit: SYNC_LIMIT,
    fullPages: full.pageSizes,
    incrementalPages: incremental.pageSizes,
    deletedId: charlie.id,
    updatedId: delta.id,
    replica: byId([...replica.values()]),
    live: byId(listed.data),
    tombstoneIds: pulled.flatMap((change) => ('deleted' in change ? [change.id] : [])),
    incrementalHadUpdate: incremental.changes.some(
      (change) => !('deleted' in change) && change.id === delta.id && change.title === renamed.data.title
    ),
  }

  // Retry-safe create: a client that lost the response sends the same request with the same Idempotency-Key and
  // gets the first response again, not a second task. The key is fresh per request, as a client would make it.
  const tasksBefore = await taskCount(client)
  const key = `flow-${crypto.randomUUID()}`
  const retried = { title: 'Hotel booking', tags: ['travel'] } satisfies TaskCreate
  const attempts = [await createWithKey(client, retried, key), await createWithKey(client, retried, key)]
  const reused = await client.POST('/api/tasks', { body: { title: 'India visa' }, params: { header: { 'idempotency-key': key } } })
  const idempotency: FlowResult['idempotency'] = {
    attempts,
    reusedKey: validationProblem(reused),
    tasksBefore,
    tasksAfter: await taskCount(client),
  }

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
  // A sync token is its user's own: another user's client sending it is refused, not served from it.
  const foreignToken = await otherClient.GET('/api/tasks/changes', { params: { query: { since: full.next } } })

  return {
    created,
    listing: { query, pages },
    fetched,
    fetchedThroughUserPath,
    updated,
    completed,
    stats,
    deleted,
    sync,
    idempotency,
    errors: {
      missingToken: { ...problem(noToken), wwwAuthenticate: noToken.response.headers.get('www-authenticate') },
      invalidToken: { ...problem(badToken), wwwAuthenticate: badToken.response.headers.get('www-authenticate') },
      otherUsersTask: problem(notYours),
      otherUserInPath: problem(wrongUser),
      staleEtag: { ...problem(lostUpdate), currentEtag: lostUpdate.response.headers.get('etag') },
      unknownId: problem(unknown),
      emptyTitle: validationProblem(emptyTitle),
      wrongPriority: validationProblem(wrongPriority),
      foreignSyncToken: validationProblem(foreignToken),
    },
  }
}

/** Compiles only if the response body really is a Task with these fields (not `unknown`, not `any`). */
function summary (task: Task): { id: string; title: string; priority: Priority; tags: string[] } {
  return { id: task.id, title: task.title, priority: task.priority, tags: task.tags }
}

function titleOf (task: Task): string {
  return task.title
}

/** Tasks as the sync result compares them: id and title, ordered by id. */
function byId (tasks: Task[]): { id: string; title: string }[] {
  return tasks.map(({ id, title }) => ({ id, title })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/**
 * Pulls the change feed from `since` (from nothing when undefined), page after page while `has_more`, applying
 * each page to `replica` in order. Returns the `next` to store, every change received and each page's size.
 */
async function pullChanges (
  client: Client<paths>,
  replica: Map<string, Task>,
  since: string | undefined,
  limit: number
): Promise<{ next: string; changes: Change[]; pageSizes: number[] }> {
  const changes: Change[] = []
  const pageSizes: number[] = []
  let next = since
  for (;;) {
    const { data, error, response } = await client.GET('/api/tasks/changes', {
      params: { query: next === undefined ? { limit } : { since: next, limit } },
    })
    if (error) throw unexpected('GET /api/tasks/changes', response, error)
    for (const change of data.changes) applyChange(replica, change)
    changes.push(...data.changes)
    pageSizes.push(data.changes.length)
    next = data.next
    if (!data.has_more) return { next, changes, pageSizes }
    if (pageSizes.length > 50) throw new Error('the change feed never ended: has_more stayed true')
  }
}

/** A task replaces the replica's copy; a tombstone, the only change with `deleted`, removes it. */
function applyChange (replica: Map<string, Task>, change: Change): void {
  if ('deleted' in change) replica.delete(change.id)
  else replica.set(change.id, change)
}

/** A create sent with an Idempotency-Key (a typed header parameter of the operation), as its response said. */
async function createWithKey (client: Client<paths>, body: TaskCreate, key: string): Promise<IdempotentAttempt> {
  const { data, error, response } = await client.POST('/api/tasks', { body, params: { header: { 'idempotency-key': key } } })
  if (error) throw unexpected('POST /api/tasks with an Idempotency-Key', response, error)
  const { headers } = response
  return {
    status: response.status,
    id: data.id,
    location: headers.get('location'),
    etag: headers.get('etag'),
    replayed: headers.get('idempotency-replayed'),
  }
}

async function taskCount (client: Client<paths>): Promise<number> {
  const { data, error, response } = await client.GET('/api/tasks/stats')
  if (error) throw unexpected('GET /api/tasks/stats', response, error)
  return data.total
}

/** The target of the first `rel="next"` link in an RFC 8288 Link header, or null. */
export function nextLink (header: string | null): string | null {
  for (const [, target, params] of (header ?? '').matchAll(/<([^>]*)>((?:\s*;\s*[^;,]+)*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))/i.exec(params ?? '')
    const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/)
    if (target !== undefined && relations.includes('next')) return target
  }
  return null
}

/** An error answer as a Problem; the parameter type makes the compiler check the operation's error bodies. */
function problem (result: { error?: Problem; response: Response }): SeenProblem {
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
function validationProblem (result: { error?: Problem | ValidationProblem; response: Response }): SeenValidationProblem {
  const { error } = result
  if (error === undefined || !('errors' in error)) throw new Error(`expected a validation problem, got ${result.response.status}`)
  const invalid: ValidationProblem = error
  const firstPath = invalid.errors[0]?.path
  if (firstPath === undefined) throw new Error('a validation problem without errors')
  return { ...problem(result), firstPath, paths: invalid.errors.map((fieldError) => fieldError.path) }
}

function unexpected (what: string, response: Response, error: Problem): Error {
  return new Error(`${what}: ${response.status} ${error.title}: ${error.detail}`)
}
