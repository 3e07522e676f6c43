import t, { type Test } from 'tap'
import pg from 'pg'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { bearer, buildApp, json, type TaskJson } from './support/app.js'
import { databaseUrlFor, forEachDriver, TEST_DATABASE_URL } from './support/drivers.js'

/**
 * Retry-safe writes (contract §9): `Idempotency-Key` on POST, PUT, PATCH …/complete and DELETE. The first request
 * with a key runs; a repeat of the same request within 24 hours gets the first response again and writes nothing.
 */

const HOUR_MS = 60 * 60 * 1000
const MINUTE_MS = 60 * 1000
/** A task id no test ever creates. */
const MISSING_ID = '0193a1e2-0000-7000-8000-000000000000'

/** A user's bearer token plus an Idempotency-Key. */
function keyed (user: string, key: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...bearer(user), 'idempotency-key': key, ...extra }
}

/** Whether the response is a replay of an earlier one (the header is absent on a first response). */
function replayed (response: LightMyRequestResponse): boolean {
  return response.headers['idempotency-replayed'] === 'true'
}

/** How many live tasks `user` has, as the list endpoint counts them. */
async function total (app: FastifyInstance, user: string): Promise<number> {
  const response = await app.inject({ url: '/api/tasks', headers: bearer(user) })
  return Number(response.headers['x-total-count'])
}

/** A task as GET reads it now, with its ETag. */
async function read (app: FastifyInstance, user: string, id: string): Promise<{ status: number; task: TaskJson; etag: string }> {
  const response = await app.inject({ url: `/api/tasks/${id}`, headers: bearer(user) })
  return { status: response.statusCode, task: json<TaskJson>(response), etag: response.headers.etag as string }
}

/** Creates a task without a key (setup, not under test). */
async function createPlain (app: FastifyInstance, user: string, title: string): Promise<{ task: TaskJson; etag: string }> {
  const response = await app.inject({ method: 'POST', url: '/api/tasks', headers: bearer(user), payload: { title } })
  if (response.statusCode !== 201) throw new Error(`setup create answered ${response.statusCode}: ${response.body}`)
  return { task: json<TaskJson>(response), etag: response.headers.etag as string }
}

/** Asserts a 422 problem that names the Idempotency-Key header. */
function assertKeyRefused (t: Test, response: LightMyRequestResponse, message: string): void {
  t.equal(response.statusCode, 422, message)
  t.match(response.headers['content-type'], /^application\/problem\+json/, `${message}: a problem document`)
  t.equal(json<{ errors: { path: string }[] }>(response).errors[0]?.path, '/headers/idempotency-key', `${message}: names the header`)
  t.notOk(replayed(response), `${message}: not a replay`)
}

/** Asserts `retry` is `first` sent again: same status, body, Location and ETag, marked as a replay. */
function assertReplayOf (t: Test, retry: LightMyRequestResponse, first: LightMyRequestResponse, message: string): void {
  t.equal(retry.statusCode, first.statusCode, `${message}: same status`)
  t.equal(retry.headers['idempotency-replayed'], 'true', `${message}: marked as a replay`)
  t.same(retry.body === '' ? '' : json(retry), first.body === '' ? '' : json(first), `${message}: same body`)
  t.equal(retry.headers.location, first.headers.location, `${message}: same Location`)
  t.equal(retry.headers.etag, first.headers.etag, `${message}: same ETag`)
}

forEachDriver(t, async (t, databaseUrl, driver) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })
  // Every subtest uses its own user, so task counts never see another subtest's tasks.

  t.test('ten concurrent retries of a create make one task and ten identical answers', async (t) => {
    const payload = { title: 'pay the invoice', priority: 'high', tags: ['bills'] }
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => app.inject({ method: 'POST', url: '/api/tasks', headers: keyed('ada', 'create-once'), payload }))
    )
    t.same(
      responses.map((response) => response.statusCode),
      Array(10).fill(201),
      'every attempt answers 201'
    )
    const [first] = responses.filter((response) => !replayed(response))
    t.equal(responses.filter((response) => !replayed(response)).length, 1, 'exactly one ran')
    t.equal(responses.filter(replayed).length, 9, 'the other nine are replays')
    for (const response of responses) {
      t.same(json(response), json(first!), 'same body')
      t.equal(response.headers.location, first!.headers.location, 'same Location')
      t.equal(response.headers.etag, first!.headers.etag, 'same ETag')
    }
    t.equal(first!.headers.location, `/api/tasks/${json<TaskJson>(first!).id}`)
    t.equal(await total(app, 'ada'), 1, 'one task exists')
    const listed = json<TaskJson[]>(await app.inject({ url: '/api/tasks', headers: bearer('ada') }))
    t.same(
      listed.map((task) => task.id),
      [json<TaskJson>(first!).id],
      'and it is the one the answers name'
    )
  })

  t.test('a later replay is the first response, not the task as it is now', async (t) => {
    const url = '/api/tasks'
    const first = await app.inject({ method: 'POST', url, headers: keyed('bea', 'weekly-report'), payload: { title: 'weekly report', priority: 'high' } })
    t.equal(first.statusCode, 201)
    t.notOk(replayed(first), 'the first response is not a replay')
    const created = json<TaskJson>(first)

    // JSON key order is not part of the request's identity.
    const reordered = await app.inject({ method: 'POST', url, headers: keyed('bea', 'weekly-report'), payload: { priority: 'high', title: 'weekly report' } })
    assertReplayOf(t, reordered, first, 'keys in another order')
    t.equal(json<TaskJson>(reordered).id, created.id, 'the same id')

    // Change the task; the replay still carries what the first response carried.
    const renamed = await app.inject({ method: 'PUT', url: `/api/tasks/${created.id}`, headers: bearer('bea'), payload: { title: 'monthly report' } })
    t.equal(renamed.statusCode, 200)
    t.not(renamed.headers.etag, first.headers.etag, 'the task has moved on')
    const later = await app.inject({ method: 'POST', url, headers: keyed('bea', 'weekly-report'), payload: { title: 'weekly report', priority: 'high' } })
    assertReplayOf(t, later, first, 'after a change')
    t.equal(json<TaskJson>(later).title, 'weekly report', 'the title of the first response')
    t.equal((await read(app, 'bea', created.id)).task.title, 'monthly report', 'the replay wrote nothing')
    t.equal(await total(app, 'bea'), 1)
  })

  t.test('the same key for another request is a 422 and writes nothing', async (t) => {
    const first = await app.inject({ method: 'POST', url: '/api/tasks', headers: keyed('cal', 'k1'), payload: { title: 'buy milk' } })
    t.equal(first.statusCode, 201)
    const task = json<TaskJson>(first)

    const otherBody = await app.inject({ method: 'POST', url: '/api/tasks', headers: keyed('cal', 'k1'), payload: { title: 'buy bread' } })
    assertKeyRefused(t, otherBody, 'a different body')
    const otherPath = await app.inject({ method: 'POST', url: '/api/cal/tasks', headers: keyed('cal', 'k1'), payload: { title: 'buy milk' } })
    assertKeyRefused(t, otherPath, 'the same body to the owner-in-path route')
    // A PUT would match the task; the refusal must roll that write back too.
    const otherMethod = await app.inject({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: keyed('cal', 'k1'), payload: { title: 'buy milk' } })
    assertKeyRefused(t, otherMethod, 'another method and path')
    const otherMethodChanging = await app.inject({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: keyed('cal', 'k1'), payload: { title: 'buy cheese' } })
    assertKeyRefused(t, otherMethodChanging, 'a PUT that would change the task')

    t.equal(await total(app, 'cal'), 1, 'nothing was created')
    const now = await read(app, 'cal', task.id)
    t.equal(now.task.title, 'buy milk', 'nothing was changed')
    t.equal(now.etag, first.headers.etag, 'not even the version')
    // The key still answers its own request.
    const again = await app.inject({ method: 'POST', url: '/api/tasks', headers: keyed('cal', 'k1'), payload: { title: 'buy milk' } })
    assertReplayOf(t, again, first, 'the original request')
  })

  t.test('keys are per user: two users with the same key each get their own task', async (t) => {
    const payload = { title: 'same words' }
    const dee = await app.inject({ method: 'POST', url: '/api/tasks', headers: keyed('dee', 'shared-key'), payload })
    const eve = await app.inject({ method: 'POST', url: '/api/tasks', headers: keyed('eve', 'shared-key'), payload })
    t.equal(dee.statusCode, 201)
    t.equal(eve.statusCode, 201)
    t.notOk(replayed(dee))
    t.notOk(replayed(eve), "the second user's request runs: the first user's key is not theirs")
    t.not(json<TaskJson>(eve).id, json<TaskJson>(dee).id, 'two tasks')
    t.equal(json<TaskJson>(dee).user_id, 'dee')
    t.equal(json<TaskJson>(eve).user_id, 'eve')
    t.equal(await total(app, 'dee'), 1)
    t.equal(await total(app, 'eve'), 1)
    // Each user's retry replays their own response.
    assertReplayOf(t, await app.inject({ method: 'POST', url: '/api/tasks', headers: keyed('dee', 'shared-key'), payload }), dee, "dee's retry")
    assertReplayOf(t, await app.inject({ method: 'POST', url: '/api/tasks', headers: keyed('eve', 'shared-key'), payload }), eve, "eve's retry")
  })

  t.test('a retried toggle does not flip twice', async (t) => {
    const { task } = await createPlain(app, 'fay', 'water plants')
    const url = `/api/tasks/${task.id}/complete`
    const first = await app.inject({ method: 'PATCH', url, headers: keyed('fay', 'toggle-1') })
    t.equal(first.statusCode, 200)
    t.equal(json<TaskJson>(first).completed, true, 'the toggle completed it')
    const retry = await app.inject({ method: 'PATCH', url, headers: keyed('fay', 'toggle-1') })
    assertReplayOf(t, retry, first, 'the retried toggle')
    const now = await read(app, 'fay', task.id)
    t.equal(now.task.completed, true, 'still completed')
    t.equal(now.etag, first.headers.etag, 'written once')
  })

  t.test('a retried completion of a recurring task creates its next occurrence once', async (t) => {
    // The retry's statement would spawn an occurrence too; the key's conflict must roll that back with it.
    const created = await app.inject({
      method: 'POST',
      url: '/api/tasks',
      headers: bearer('fin'),
      payload: { title: 'water plants', due_date: '2030-01-01T09:00:00Z', recurrence: 'weekly' },
    })
    t.equal(created.statusCode, 201)
    const url = `/api/tasks/${json<TaskJson>(created).id}/complete`
    const first = await app.inject({ method: 'PATCH', url, headers: keyed('fin', 'complete-1'), payload: { completed: true } })
    t.equal(first.statusCode, 200)
    t.ok(json<TaskJson>(first).next_task_id, 'the first completion spawned the next occurrence')
    assertReplayOf(t, await app.inject({ method: 'PATCH', url, headers: keyed('fin', 'complete-1'), payload: { completed: true } }), first, 'the retry')
    t.equal(await total(app, 'fin'), 2, 'the task and one occurrence')
  })

  t.test('a retried DELETE answers 204 again, not 404', async (t) => {
    const { task } = await createPlain(app, 'gus', 'old note')
    const url = `/api/tasks/${task.id}`
    const first = await app.inject({ method: 'DELETE', url, headers: keyed('gus', 'delete-1') })
    t.equal(first.statusCode, 204)
    const retry = await app.inject({ method: 'DELETE', url, headers: keyed('gus', 'delete-1') })
    t.equal(retry.statusCode, 204)
    t.equal(retry.headers['idempotency-replayed'], 'true')
    t.equal(retry.body, '', 'no body')
    t.equal((await read(app, 'gus', task.id)).status, 404, 'the task is gone')
    const unkeyed = await app.inject({ method: 'DELETE', url, headers: bearer('gus') })
    t.equal(unkeyed.statusCode, 404, 'without the key the same DELETE is a 404: the 204 came from the record')
  })

  t.test('a retried PUT with the old If-Match gets the first 200, not 412', async (t) => {
    const { task, etag } = await createPlain(app, 'hal', 'draft')
    const url = `/api/tasks/${task.id}`
    const payload = { title: 'final', priority: 'low' }
    const first = await app.inject({ method: 'PUT', url, headers: keyed('hal', 'put-1', { 'if-match': etag }), payload })
    t.equal(first.statusCode, 200)
    t.not(first.headers.etag, etag)
    const retry = await app.inject({ method: 'PUT', url, headers: keyed('hal', 'put-1', { 'if-match': etag }), payload })
    assertReplayOf(t, retry, first, 'the retried PUT')
    const unkeyed = await app.inject({ method: 'PUT', url, headers: { ...bearer('hal'), 'if-match': etag }, payload })
    t.equal(unkeyed.statusCode, 412, 'without the key the stale If-Match is refused')
    t.equal((await read(app, 'hal', task.id)).etag, first.headers.etag, 'written once')
  })

  t.test('invalid keys are a 422 and create nothing', async (t) => {
    const invalid = {
      empty: '',
      'with a space': 'two words',
      'non-ASCII': 'clé-1',
      'a control character': 'tab\there',
      '256 characters': 'k'.repeat(256),
    }
    for (const [name, key] of Object.entries(invalid)) {
      const response = await app.inject({ method: 'POST', url: '/api/tasks', headers: keyed('ivy', key), payload: { title: name } })
      assertKeyRefused(t, response, name)
    }
    t.equal(await total(app, 'ivy'), 0, 'nothing was created')

    const { task, etag } = await createPlain(app, 'ivy', 'unchanged')
    const put = await app.inject({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: keyed('ivy', 'a b'), payload: { title: 'changed' } })
    assertKeyRefused(t, put, 'on a PUT')
    t.equal((await read(app, 'ivy', task.id)).etag, etag, 'nothing was changed')

    const longest = await app.inject({ method: 'POST', url: '/api/tasks', headers: keyed('ivy', '~'.repeat(255)), payload: { title: 'edge' } })
    t.equal(longest.statusCode, 201, '255 visible characters are a valid key')
  })

  t.test('a failed write is not recorded: its retry runs again', async (t) => {
    const missing = `/api/tasks/${MISSING_ID}`
    const first = await app.inject({ method: 'PUT', url: missing, headers: keyed('jon', 'fails'), payload: { title: 'x' } })
    t.equal(first.statusCode, 404)
    const retry = await app.inject({ method: 'PUT', url: missing, headers: keyed('jon', 'fails'), payload: { title: 'x' } })
    t.equal(retry.statusCode, 404, 'still a 404')
    t.notOk(replayed(retry), 'computed again, not replayed')
    // Nothing holds the key: another request may use it.
    const create = await app.inject({ method: 'POST', url: '/api/tasks', headers: keyed('jon', 'fails'), payload: { title: 'x' } })
    t.equal(create.statusCode, 201, 'the key is free for another request (no 422)')
    t.notOk(replayed(create))

    // A 412 is not recorded either; If-Match is not part of the request's identity, so the corrected retry runs.
    const { task, etag } = await createPlain(app, 'jon', 'conditional')
    await app.inject({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: bearer('jon'), payload: { description: 'moved on' } })
    const current = (await read(app, 'jon', task.id)).etag
    const url = `/api/tasks/${task.id}`
    const stale = await app.inject({ method: 'PUT', url, headers: keyed('jon', 'conditional', { 'if-match': etag }), payload: { title: 'done' } })
    t.equal(stale.statusCode, 412)
    t.notOk(replayed(stale))
    const fresh = await app.inject({ method: 'PUT', url, headers: keyed('jon', 'conditional', { 'if-match': current }), payload: { title: 'done' } })
    t.equal(fresh.statusCode, 200, 'the retry with the current ETag runs')
    t.notOk(replayed(fresh), 'it is the first response for this key')
    t.equal(json<TaskJson>(fresh).title, 'done')
    const again = await app.inject({ method: 'PUT', url, headers: keyed('jon', 'conditional', { 'if-match': etag }), payload: { title: 'done' } })
    assertReplayOf(t, again, fresh, 'once it succeeded, the key replays it')
  })

  t.test('a write the database refuses mid-statement records no key: key and write are one statement', async (t) => {
    // The recurrence check constraint fails inside the statement that would also record the key.
    const { task, etag } = await createPlain(app, 'kim', 'no due date')
    const request = { method: 'PUT' as const, url: `/api/tasks/${task.id}`, headers: keyed('kim', 'refused'), payload: { recurrence: 'daily' } }
    const refused = await app.inject(request)
    t.equal(refused.statusCode, 422, 'the database refused the write')
    t.equal((await read(app, 'kim', task.id)).etag, etag, 'the task is untouched')
    const again = await app.inject(request)
    t.equal(again.statusCode, 422)
    t.notOk(replayed(again), 'no key was recorded: the retry runs again rather than replaying')
    // Had a key been recorded, another body with it would be a 422; it runs, so the key was never taken.
    const fixed = await app.inject({ ...request, payload: { recurrence: 'daily', due_date: '2027-01-01T09:00:00Z' } })
    t.equal(fixed.statusCode, 200, 'the key is free for the corrected request')
    t.notOk(replayed(fixed))
  })

  t.test('keys expire after 24 hours of the app clock, and the purge removes them', async (t) => {
    // Its own database and app, so the purge counts only this test's keys, with a clock the test moves.
    const start = Date.now()
    let clockMs = start
    const timed = await buildApp(t, { DATABASE_URL: await databaseUrlFor(t, driver) }, { now: () => new Date(clockMs) })
    const post = (key: string, title: string) => timed.inject({ method: 'POST', url: '/api/tasks', headers: keyed('kim', key), payload: { title } })

    const first = await post('daily', 'stand-up')
    t.equal(first.statusCode, 201)
    const other = await post('left-alone', 'retro')
    t.equal(other.statusCode, 201)

    clockMs = start + 23 * HOUR_MS + 59 * MINUTE_MS
    assertReplayOf(t, await post('daily', 'stand-up'), first, 'at +23h59m')
    t.equal(await total(timed, 'kim'), 2)

    clockMs = start + 24 * HOUR_MS + MINUTE_MS
    const fresh = await post('daily', 'stand-up')
    t.equal(fresh.statusCode, 201, 'at +24h01m the request runs again')
    t.notOk(replayed(fresh), 'not a replay')
    t.not(json<TaskJson>(fresh).id, json<TaskJson>(first).id, 'a second task')
    t.equal(await total(timed, 'kim'), 3)

    // "left-alone" was recorded at the start and never touched since: it is the one expired key left.
    // "daily" was recorded again at +24h01m and must survive.
    t.same(await timed.purgeExpired(), { tombstones: 0, idempotencyKeys: 1 }, 'the expired key is purged')
    t.same(await timed.purgeExpired(), { tombstones: 0, idempotencyKeys: 0 }, 'a second purge finds nothing')
    const afterPurge = await post('left-alone', 'retro')
    t.equal(afterPurge.statusCode, 201)
    t.notOk(replayed(afterPurge), 'the purged key is free: the request runs')
    assertReplayOf(t, await post('daily', 'stand-up'), fresh, 'the key recorded again replays its new response')
    t.equal(await total(timed, 'kim'), 4)
  })
})

t.test('a retry while the first is still running gets 409 with Retry-After', { skip: TEST_DATABASE_URL === undefined && 'needs TEST_DATABASE_URL' }, async (t) => {
  const databaseUrl = await databaseUrlFor(t, 'node-postgres')
  const app = await buildApp(t, { DATABASE_URL: databaseUrl }, { inFlightWaitMs: 200 })
  const { task } = await createPlain(app, 'lou', 'locked')
  const url = `/api/tasks/${task.id}`
  const put = () => app.inject({ method: 'PUT', url, headers: keyed('lou', 'slow-put'), payload: { title: 'unlocked' } })

  // Another session holds the row, so the first PUT blocks in the database.
  const holder = new pg.Client({ connectionString: databaseUrl })
  await holder.connect()
  t.teardown(() => holder.end())
  await holder.query('begin')
  await holder.query('select * from tasks where id = $1 for update', [task.id])

  let firstSettled = false
  const first = put()
  void first.finally(() => {
    firstSettled = true
  })
  await new Promise((resolve) => setTimeout(resolve, 50))
  const second = await put()
  t.equal(second.statusCode, 409, 'the retry gives up after the in-flight wait')
  t.match(second.headers['content-type'], /^application\/problem\+json/)
  t.ok(second.headers['retry-after'], 'and says when to retry')
  t.notOk(replayed(second))
  t.notOk(firstSettled, 'the first was still blocked when the 409 came')

  await holder.query('rollback')
  const firstResponse = await first
  t.equal(firstResponse.statusCode, 200, 'the first completes once the row is free')
  t.notOk(replayed(firstResponse))
  const third = await put()
  assertReplayOf(t, third, firstResponse, 'a retry after the first finished')
  const now = await read(app, 'lou', task.id)
  t.equal(now.task.title, 'unlocked')
  t.equal(now.etag, firstResponse.headers.etag, 'written once')
})

/**
 * Two instances of the app on one database: the in-process wait cannot help, the database must. The retry's
 * statement snapshot predates the first's commit, so once the row lock frees it sees neither the task (deleted)
 * nor the key and writes nothing; the repository then reads the key afresh and answers with the first response.
 */
t.test(
  'across instances, a concurrent retry gets the first response',
  { skip: TEST_DATABASE_URL === undefined && 'needs TEST_DATABASE_URL' },
  async (t) => {
    const databaseUrl = await databaseUrlFor(t, 'node-postgres')
    const one = await buildApp(t, { DATABASE_URL: databaseUrl })
    const two = await buildApp(t, { DATABASE_URL: databaseUrl })
    const { task } = await createPlain(one, 'max', 'shared')
    const request = { method: 'DELETE' as const, url: `/api/tasks/${task.id}`, headers: keyed('max', 'cross-instance') }

    // Hold the row so both requests are in the database, one waiting behind the other, before either commits.
    const holder = new pg.Client({ connectionString: databaseUrl })
    await holder.connect()
    t.teardown(() => holder.end())
    await holder.query('begin')
    await holder.query('select * from tasks where id = $1 for update', [task.id])
    const first = one.inject(request)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const retry = two.inject(request)
    await new Promise((resolve) => setTimeout(resolve, 100))
    await holder.query('rollback')

    t.equal((await first).statusCode, 204)
    const answer = await retry
    t.equal(answer.statusCode, 204, 'the retry gets the first response')
    t.ok(replayed(answer), 'marked as a replay')
    t.equal((await read(one, 'max', task.id)).status, 404, 'the task was deleted, once')
  }
)
