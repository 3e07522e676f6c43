import t from 'tap'
import { bearer, buildApp, json, type TaskJson as Task } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

/** The task's fields, as contract §3 lists them. */
const TASK_FIELDS = ['id', 'user_id', 'title', 'description', 'completed', 'completed_at', 'priority', 'tags', 'due_date', 'recurrence', 'next_task_id', 'created_at', 'updated_at']

/** Priorities, tags, due dates and recurrence (contract §3), stats and clearing completed tasks (§4). */
forEachDriver(t, async (t, databaseUrl) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })

  for (const base of ['/api/tasks', '/api/organiser/tasks']) {
    t.test(`fields through ${base}`, async (t) => {
      const auth = bearer('organiser')
      const create = (payload: object) => app.inject({ method: 'POST', url: base, headers: auth, payload })

      t.test('every field is stored and returned', async (t) => {
        const response = await create({
          title: 'Pay rent',
          priority: 'high',
          tags: [' Home ', 'MONEY', 'home', 'money ', 'bills'],
          due_date: '2026-12-01T09:00:00+02:00',
          recurrence: 'monthly',
        })
        t.equal(response.statusCode, 201)
        const task = json<Task>(response)
        t.equal(task.priority, 'high')
        t.same(task.tags, ['home', 'money', 'bills'], 'trimmed, lower-cased, duplicates dropped, order kept')
        t.equal(task.due_date, '2026-12-01T07:00:00.000Z', 'stored in UTC with milliseconds')
        t.equal(task.recurrence, 'monthly')
        t.equal(task.next_task_id, null)
        t.same(json(await app.inject({ url: `/api/tasks/${task.id}`, headers: auth })), task)
      })

      t.test('20 tags after de-duplication are fine; 21 are not', async (t) => {
        const twenty = Array.from({ length: 20 }, (_, i) => `tag${i}`)
        t.equal((await create({ title: 'x', tags: [...twenty, 'TAG0', ' tag1 '] })).statusCode, 201)
        const tooMany = await create({ title: 'x', tags: [...twenty, 'tag20'] })
        t.equal(tooMany.statusCode, 422)
        t.match(json(tooMany).errors, [{ path: '/body/tags', message: /more than 20/ }])
      })

      t.test('each new field is validated, naming it', async (t) => {
        const cases: [object, string][] = [
          [{ title: 'x', priority: 'urgent' }, '/body/priority'],
          [{ title: 'x', priority: 3 }, '/body/priority'],
          [{ title: 'x', tags: 'work' }, '/body/tags'],
          [{ title: 'x', tags: ['ok', '   '] }, '/body/tags/1'],
          [{ title: 'x', tags: ['x'.repeat(33)] }, '/body/tags/0'],
          [{ title: 'x', tags: [7] }, '/body/tags/0'],
          [{ title: 'x', due_date: 'tomorrow' }, '/body/due_date'],
          [{ title: 'x', due_date: '2026-12-01T09:00:00' }, '/body/due_date'],
          [{ title: 'x', due_date: 1764579600000 }, '/body/due_date'],
          [{ title: 'x', recurrence: 'hourly', due_date: '2026-12-01T09:00:00Z' }, '/body/recurrence'],
          [{ title: 'x', recurrence: 'daily' }, '/body/recurrence'],
          [{ title: 'x', next_task_id: null }, '/body/next_task_id'],
        ]
        for (const [payload, path] of cases) {
          const response = await create(payload)
          t.equal(response.statusCode, 422, JSON.stringify(payload))
          t.match(json(response).errors, [{ path }], JSON.stringify(payload))
        }
      })

      t.test('an update cannot leave a recurrence without a due date, and changes nothing when refused', async (t) => {
        const task = json<Task>(await create({ title: 'Water plants', due_date: '2026-12-01T09:00:00Z', recurrence: 'weekly' }))
        const url = `/api/tasks/${task.id}`
        const dropDue = await app.inject({ method: 'PUT', url, headers: auth, payload: { due_date: null } })
        t.equal(dropDue.statusCode, 422)
        t.match(json(dropDue), { status: 422, errors: [{ path: '/body/recurrence', message: /needs a due_date/ }] })
        t.same(json(await app.inject({ url, headers: auth })), task, 'unchanged')

        const both = json<Task>(await app.inject({ method: 'PUT', url, headers: auth, payload: { due_date: null, recurrence: null } }))
        t.equal(both.due_date, null)
        t.equal(both.recurrence, null)
        const setRecurrence = await app.inject({ method: 'PUT', url, headers: auth, payload: { recurrence: 'daily' } })
        t.equal(setRecurrence.statusCode, 422, 'a recurrence on a task without a due date')
        const updated = json<Task>(
          await app.inject({ method: 'PUT', url, headers: auth, payload: { recurrence: 'daily', due_date: '2027-01-31T08:00:00Z', tags: ['Garden'], priority: 'low' } })
        )
        t.match(updated, { recurrence: 'daily', due_date: '2027-01-31T08:00:00.000Z', tags: ['garden'], priority: 'low' })
      })

      t.test('an update repeating the stored tags, priority and due date changes nothing', async (t) => {
        const task = json<Task>(await create({ title: 'Same', tags: ['a', 'b'], priority: 'low', due_date: '2026-12-24T18:00:00.000Z' }))
        await new Promise((resolve) => setTimeout(resolve, 5))
        const again = await app.inject({
          method: 'PUT',
          url: `/api/tasks/${task.id}`,
          headers: auth,
          payload: { tags: ['A', 'b'], priority: 'low', due_date: '2026-12-24T19:00:00+01:00' },
        })
        t.same(json(again), task, 'updated_at did not move')
      })
    })
  }

  t.test('stats count the caller’s tasks only', async (t) => {
    const auth = bearer('counter')
    const past = new Date(Date.now() - 86_400_000).toISOString()
    const future = new Date(Date.now() + 86_400_000).toISOString()
    const bodies = [
      { title: 'a', priority: 'high', due_date: past },
      { title: 'b', priority: 'high', due_date: future },
      { title: 'c', priority: 'low', due_date: past, completed: true },
      { title: 'd' },
      { title: 'e', priority: 'low', completed: true },
    ]
    for (const payload of bodies) await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload })
    await app.inject({ method: 'POST', url: '/api/tasks', headers: bearer('someone-else'), payload: { title: 'not mine', due_date: past } })
    const expected = { total: 5, completed: 2, pending: 3, overdue: 1, by_priority: { low: 0, medium: 1, high: 2 } }
    for (const url of ['/api/tasks/stats', '/api/counter/tasks/stats']) {
      const response = await app.inject({ url, headers: auth })
      t.equal(response.statusCode, 200, url)
      t.same(json(response), expected, url)
    }
    t.same(json(await app.inject({ url: '/api/tasks/stats', headers: bearer('nobody') })), {
      total: 0,
      completed: 0,
      pending: 0,
      overdue: 0,
      by_priority: { low: 0, medium: 0, high: 0 },
    })
    t.equal((await app.inject({ url: '/api/tasks/stats?x=1', headers: auth })).statusCode, 422)
  })

  t.test('clearing completed tasks leaves pending ones and other users’ alone', async (t) => {
    const auth = bearer('clearer')
    const other = bearer('bystander')
    for (const [headers, payload] of [
      [auth, { title: 'done 1', completed: true }],
      [auth, { title: 'done 2', completed: true }],
      [auth, { title: 'open' }],
      [other, { title: 'theirs, done', completed: true }],
    ] as const) {
      await app.inject({ method: 'POST', url: '/api/tasks', headers, payload })
    }
    for (const query of ['', '?status=pending', '?status=all', '?status=completed&x=1', '?status=COMPLETED']) {
      const refused = await app.inject({ method: 'DELETE', url: `/api/tasks${query}`, headers: auth })
      t.equal(refused.statusCode, 422, `DELETE /api/tasks${query}`)
      t.match(json(refused).errors, [{ path: /^\/querystring/ }])
    }
    t.equal(json<Task[]>(await app.inject({ url: '/api/tasks', headers: auth })).length, 3, 'nothing was deleted by a refused request')

    const cleared = await app.inject({ method: 'DELETE', url: '/api/clearer/tasks?status=completed', headers: auth })
    t.equal(cleared.statusCode, 200)
    t.same(json(cleared), { deleted: 2 })
    t.same(json<Task[]>(await app.inject({ url: '/api/tasks', headers: auth })).map((task) => task.title), ['open'])
    t.same(json<Task[]>(await app.inject({ url: '/api/tasks', headers: other })).map((task) => task.title), ['theirs, done'])
    t.same(json(await app.inject({ method: 'DELETE', url: '/api/tasks?status=completed', headers: auth })), { deleted: 0 })
    t.equal((await app.inject({ method: 'DELETE', url: '/api/bystander/tasks?status=completed', headers: auth })).statusCode, 403)
  })

  t.test('every answer that carries a task carries exactly the contract’s fields (§3), nothing internal', async (t) => {
    const auth = bearer('fields')
    const created = await app.inject({ method: 'POST', url: '/api/tasks', headers: { ...auth, 'idempotency-key': 'fields-1' }, payload: { title: 'Shape' } })
    const { id } = json<Task>(created)
    const answers: [string, unknown][] = [
      ['create', json(created)],
      ['replayed create', json(await app.inject({ method: 'POST', url: '/api/tasks', headers: { ...auth, 'idempotency-key': 'fields-1' }, payload: { title: 'Shape' } }))],
      ['get', json(await app.inject({ url: `/api/tasks/${id}`, headers: auth }))],
      ['list', json<Task[]>(await app.inject({ url: '/api/tasks', headers: auth }))[0]],
      ['update', json(await app.inject({ method: 'PUT', url: `/api/tasks/${id}`, headers: auth, payload: { priority: 'low' } }))],
      ['complete', json(await app.inject({ method: 'PATCH', url: `/api/tasks/${id}/complete`, headers: auth, payload: { completed: true } }))],
      ['change feed', json<{ changes: Task[] }>(await app.inject({ url: '/api/tasks/changes', headers: auth })).changes[0]],
    ]
    for (const [answer, task] of answers) t.same(Object.keys(task as object).sort(), [...TASK_FIELDS].sort(), answer)
  })
})

t.test('dates PostgreSQL cannot store are a 422 naming the field, not a 500', async (t) => {
  const app = await buildApp(t)
  const ann = bearer('dates')
  for (const due_date of ['0001-01-01T00:00:00+01:00', '0031-12-31T23:59:59.999Z', '0999-12-31T23:59:59Z', '2016-12-31T23:59:60Z', '9999-12-31T23:59:59-23:59']) {
    const response = await app.inject({ method: 'POST', url: '/api/tasks', headers: ann, payload: { title: 'ancient', due_date } })
    t.equal(response.statusCode, 422, due_date)
    t.match(response.json(), { errors: [{ path: '/body/due_date', message: /between 1000-01-01/ }] })
  }
  const earliest = await app.inject({ method: 'POST', url: '/api/tasks', headers: ann, payload: { title: 'first day', due_date: '1000-01-01T00:00:00Z' } })
  t.equal(earliest.statusCode, 201, 'year 1000 in UTC is fine')
  t.equal(earliest.json().due_date, '1000-01-01T00:00:00.000Z', 'and comes back unchanged')
  const last = await app.inject({ method: 'POST', url: '/api/tasks', headers: ann, payload: { title: 'last', due_date: '9999-12-31T00:00:00Z', recurrence: 'yearly' } })
  const completed = await app.inject({ method: 'PATCH', url: `/api/tasks/${last.json().id}/complete`, headers: ann })
  t.equal(completed.statusCode, 200)
  t.equal(completed.json().next_task_id, null, 'a yearly series ends in year 9999: no occurrence past it')
  const query = await app.inject({ url: '/api/tasks?due_before=0001-01-01T00:30:00%2B01:00', headers: ann })
  t.equal(query.statusCode, 422)
  t.match(query.json(), { errors: [{ path: '/querystring/due_before' }] })
  t.equal((await app.inject({ url: '/api/tasks', headers: ann })).headers['x-total-count'], '2', 'nothing else was stored')
})
