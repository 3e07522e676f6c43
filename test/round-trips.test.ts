import t from 'tap'
import type { InjectOptions } from 'fastify'
import { bearer, buildApp, json, type TaskJson } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

/**
 * One database round trip on every successful request: each endpoint's work is one SQL statement, counted
 * through Drizzle's logger on each driver. (Only a miss takes a second statement, to tell 403 from 404.)
 */
forEachDriver(t, async (t, databaseUrl) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })
  const ann = bearer('ann')
  const statements: string[] = []
  t.teardown(app.db.onQuery((statement) => statements.push(statement)))

  /** Sends the request; fails unless it succeeded with `status` after exactly `expected` statements. */
  async function roundTrips (name: string, request: InjectOptions, status: number, expected = 1) {
    statements.length = 0
    const response = await app.inject({ ...request, headers: { ...ann, ...request.headers } })
    t.equal(response.statusCode, status, `${name}: ${status}`)
    t.equal(statements.length, expected, `${name}: ${expected} statement(s)`)
    return response
  }

  const create = async (payload: Record<string, unknown>) =>
    json<TaskJson>(await roundTrips(`create ${JSON.stringify(payload)}`, { method: 'POST', url: '/api/tasks', payload }, 201))
  const first = await create({ title: 'first', tags: ['home'], priority: 'high' })
  const recurring = await create({ title: 'recurring', due_date: '2026-12-01T09:00:00Z', recurrence: 'weekly' })
  await create({ title: 'third' })

  const page = await roundTrips('list', { url: '/api/tasks?limit=1' }, 200)
  await roundTrips('list, next page', { url: `/api/tasks?${new URLSearchParams((page.headers.link as string).match(/\?([^>]*)>/)![1]!)}` }, 200)
  await roundTrips('list, filtered and sorted', { url: '/api/tasks?status=pending&priority=high&tag=home&q=fir&sort=title' }, 200)
  await roundTrips('list, /api/{user_id}/tasks', { url: '/api/ann/tasks' }, 200)
  await roundTrips('stats', { url: '/api/tasks/stats' }, 200)

  const got = await roundTrips('get', { url: `/api/tasks/${first.id}` }, 200)
  const etag = got.headers.etag as string
  await roundTrips('get, If-None-Match', { url: `/api/tasks/${first.id}`, headers: { 'if-none-match': etag } }, 304)
  const put = await roundTrips('put', { method: 'PUT', url: `/api/tasks/${first.id}`, payload: { title: 'first, renamed' } }, 200)
  await roundTrips('put, If-Match', { method: 'PUT', url: `/api/tasks/${first.id}`, headers: { 'if-match': put.headers.etag as string }, payload: { priority: 'low' } }, 200)
  await roundTrips('toggle', { method: 'PATCH', url: `/api/tasks/${first.id}/complete` }, 200)
  await roundTrips('set completed', { method: 'PATCH', url: `/api/tasks/${first.id}/complete`, payload: { completed: false } }, 200)
  const completed = await roundTrips('complete a recurring task', { method: 'PATCH', url: `/api/tasks/${recurring.id}/complete` }, 200)
  t.ok(json<TaskJson>(completed).next_task_id, 'and its next occurrence was created in the same statement')
  await roundTrips('put completed on a recurring task', { method: 'PUT', url: `/api/tasks/${json<TaskJson>(completed).next_task_id}`, payload: { completed: true } }, 200)
  const current = (await app.inject({ url: `/api/tasks/${first.id}`, headers: ann })).headers.etag as string
  await roundTrips('delete, If-Match', { method: 'DELETE', url: `/api/tasks/${first.id}`, headers: { 'if-match': current } }, 204)
  await roundTrips('clear completed', { method: 'DELETE', url: '/api/tasks?status=completed' }, 200)
  const changes = await roundTrips('changes, from nothing', { url: '/api/tasks/changes?limit=1' }, 200)
  await roundTrips('changes, since', { url: `/api/tasks/changes?since=${json<{ next: string }>(changes).next}` }, 200)

  // An Idempotency-Key is recorded in the write's own statement.
  const keyed = { method: 'POST' as const, url: '/api/tasks', headers: { 'idempotency-key': 'round-trips-create' }, payload: { title: 'keyed' } }
  const created = json<TaskJson>(await roundTrips('create with a key', keyed, 201))
  // A replayed create re-runs its write, which the recorded key rolls back, then reads the record: two.
  await roundTrips('create with a used key (replayed)', keyed, 201, 2)
  const keyedDelete = { method: 'DELETE' as const, url: `/api/tasks/${created.id}`, headers: { 'idempotency-key': 'round-trips-delete' } }
  await roundTrips('delete with a key', keyedDelete, 204)
  // The task is gone, so the write matches nothing and the same statement returns the record: one.
  await roundTrips('delete with a used key (replayed)', keyedDelete, 204)
  await roundTrips('readiness', { url: '/ready' }, 200)

  // The failure paths may take a second look, to tell another user's task from a missing one.
  await roundTrips('missing task', { url: `/api/tasks/${first.id}` }, 404, 2)
})
