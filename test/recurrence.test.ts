import { sql } from 'drizzle-orm'
import t from 'tap'
import { bearer, buildApp, json, type TaskJson as Task } from './support/app.js'
import { forEachDriver } from './support/drivers.js'
import { RECURRENCE_NEEDS_DUE_DATE } from '../src/db/schema.js'

/** Completing a recurring task creates its next occurrence, exactly once (contract §4). */
forEachDriver(t, async (t, databaseUrl, driver) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })
  const auth = bearer(`recurring-${driver}`)
  const create = async (payload: object) => json<Task>(await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload }))
  const complete = async (id: string, payload?: object) =>
    json<Task>(await app.inject({ method: 'PATCH', url: `/api/tasks/${id}/complete`, headers: auth, ...(payload && { payload }) }))
  const get = async (id: string) => json<Task>(await app.inject({ url: `/api/tasks/${id}`, headers: auth }))
  const all = async () => json<Task[]>(await app.inject({ url: '/api/tasks', headers: auth }))

  const periods: [string, string, string][] = [
    ['daily', '2026-12-31T23:30:00.000Z', '2027-01-01T23:30:00.000Z'],
    ['weekly', '2026-12-28T09:00:00.000Z', '2027-01-04T09:00:00.000Z'],
    ['monthly', '2027-01-31T09:00:00.000Z', '2027-02-28T09:00:00.000Z'],
    ['monthly', '2028-01-31T09:00:00.000Z', '2028-02-29T09:00:00.000Z'],
    ['monthly', '2026-03-31T00:30:00.000Z', '2026-04-30T00:30:00.000Z'],
    ['yearly', '2028-02-29T12:00:00.000Z', '2029-02-28T12:00:00.000Z'],
    ['yearly', '2026-11-26T14:50:58.123Z', '2027-11-26T14:50:58.123Z'],
  ]
  for (const [recurrence, due, next] of periods) {
    t.test(`${recurrence}: ${due} → ${next}`, async (t) => {
      const task = await create({ title: `Every ${recurrence}`, description: 'd', priority: 'high', tags: ['r'], due_date: due, recurrence })
      const done = await complete(task.id)
      t.equal(done.completed, true)
      t.ok(done.next_task_id, 'linked to its next occurrence')
      const occurrence = await get(done.next_task_id!)
      t.match(occurrence, {
        title: `Every ${recurrence}`,
        description: 'd',
        priority: 'high',
        tags: ['r'],
        recurrence,
        due_date: next,
        completed: false,
        completed_at: null,
        next_task_id: null,
      })
    })
  }

  /** The due dates of a series, completing each occurrence in turn. */
  const series = async (first: Task, length: number) => {
    const dues = [first.due_date]
    let current = first
    for (let i = 1; i < length; i++) {
      current = await get((await complete(current.id)).next_task_id!)
      dues.push(current.due_date)
    }
    return dues
  }

  t.test('a monthly series keeps its day of month, clamping only the months that lack it', async (t) => {
    const task = await create({ title: 'Rent', due_date: '2027-01-31T09:00:00Z', recurrence: 'monthly' })
    t.same(await series(task, 6), [
      '2027-01-31T09:00:00.000Z',
      '2027-02-28T09:00:00.000Z',
      '2027-03-31T09:00:00.000Z',
      '2027-04-30T09:00:00.000Z',
      '2027-05-31T09:00:00.000Z',
      '2027-06-30T09:00:00.000Z',
    ])
  })

  t.test('a yearly series on Feb 29 returns to it in leap years', async (t) => {
    const task = await create({ title: 'Leap', due_date: '2028-02-29T12:00:00Z', recurrence: 'yearly' })
    t.same(await series(task, 5), [
      '2028-02-29T12:00:00.000Z',
      '2029-02-28T12:00:00.000Z',
      '2030-02-28T12:00:00.000Z',
      '2031-02-28T12:00:00.000Z',
      '2032-02-29T12:00:00.000Z',
    ])
  })

  t.test('the day is the due date’s in UTC, with its time of day', async (t) => {
    // 23:30 on Jan 30 in New York is 04:30 on Jan 31 in UTC.
    const task = await create({ title: 'Late', due_date: '2027-01-30T23:30:00-05:00', recurrence: 'monthly' })
    t.same(await series(task, 3), ['2027-01-31T04:30:00.000Z', '2027-02-28T04:30:00.000Z', '2027-03-31T04:30:00.000Z'])
  })

  t.test('a client moving the due date moves the series’ day; sending the same due date keeps it', async (t) => {
    const task = await create({ title: 'Moved', due_date: '2027-01-31T09:00:00Z', recurrence: 'monthly' })
    const february = await get((await complete(task.id)).next_task_id!)
    t.equal(february.due_date, '2027-02-28T09:00:00.000Z')
    const put = (id: string, payload: object) => app.inject({ method: 'PUT', url: `/api/tasks/${id}`, headers: auth, payload })
    t.equal((await put(february.id, { title: 'Moved', due_date: '2027-02-28T09:00:00.000Z' })).statusCode, 200)
    t.equal((await get((await complete(february.id)).next_task_id!)).due_date, '2027-03-31T09:00:00.000Z', 'the same due date sent again: still the 31st')

    const other = await create({ title: 'Moved again', due_date: '2027-01-31T09:00:00Z', recurrence: 'monthly' })
    await put(other.id, { due_date: '2027-01-15T09:00:00Z' })
    t.same(await series(await get(other.id), 3), ['2027-01-15T09:00:00.000Z', '2027-02-15T09:00:00.000Z', '2027-03-15T09:00:00.000Z'])

    const completedWithNewDate = await create({ title: 'Completed and moved', due_date: '2027-01-31T09:00:00Z', recurrence: 'monthly' })
    const done = json<Task>(await put(completedWithNewDate.id, { completed: true, due_date: '2027-01-30T09:00:00Z' }))
    const next = await get(done.next_task_id!)
    t.equal(next.due_date, '2027-02-28T09:00:00.000Z')
    t.equal((await get((await complete(next.id)).next_task_id!)).due_date, '2027-03-30T09:00:00.000Z', 'the day the completing write set')
  })

  t.test('a series written before the day was kept falls on its due date’s day', async (t) => {
    const task = await create({ title: 'Old', due_date: '2027-01-31T09:00:00Z', recurrence: 'monthly' })
    await app.db.orm.execute(sql`update tasks set recurrence_day = null where id = ${task.id}`)
    t.same(await series(task, 3), ['2027-01-31T09:00:00.000Z', '2027-02-28T09:00:00.000Z', '2027-03-31T09:00:00.000Z'])
  })

  t.test('exactly once: un-completing and completing again creates nothing new', async (t) => {
    const task = await create({ title: 'Once', due_date: '2027-05-01T08:00:00Z', recurrence: 'daily' })
    const first = await complete(task.id, { completed: true })
    const again = await complete(task.id, { completed: true })
    t.equal(again.next_task_id, first.next_task_id, 'repeating the completion changes nothing')
    const undone = await complete(task.id)
    t.equal(undone.completed, false)
    t.equal(undone.next_task_id, first.next_task_id, 'un-completing keeps the link')
    const redone = await complete(task.id)
    t.equal(redone.next_task_id, first.next_task_id)
    t.equal((await all()).filter((item) => item.title === 'Once').length, 2, 'the task and one occurrence')
  })

  t.test('PUT with completed: true completes and spawns too, from the values it writes', async (t) => {
    const task = await create({ title: 'Put', due_date: '2027-03-10T10:00:00Z', recurrence: 'weekly' })
    const response = await app.inject({
      method: 'PUT',
      url: `/api/tasks/${task.id}`,
      headers: auth,
      payload: { completed: true, title: 'Put renamed', due_date: '2027-03-12T10:00:00Z' },
    })
    const done = json<Task>(response)
    t.equal(done.completed, true)
    t.match(await get(done.next_task_id!), { title: 'Put renamed', due_date: '2027-03-19T10:00:00.000Z', recurrence: 'weekly' })
    const stop = json<Task>(
      await app.inject({ method: 'PUT', url: `/api/tasks/${(await create({ title: 'Stop', due_date: '2027-03-10T10:00:00Z', recurrence: 'daily' })).id}`, headers: auth, payload: { completed: true, recurrence: null } })
    )
    t.equal(stop.next_task_id, null, 'ending the recurrence while completing spawns nothing')
  })

  t.test('a task without recurrence spawns nothing', async (t) => {
    const done = await complete((await create({ title: 'Plain', due_date: '2027-03-10T10:00:00Z' })).id)
    t.equal(done.completed, true)
    t.equal(done.next_task_id, null)
  })

  t.test('concurrent completions create one occurrence', async (t) => {
    const task = await create({ title: 'Race', due_date: '2027-06-01T08:00:00Z', recurrence: 'monthly' })
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => app.inject({ method: 'PATCH', url: `/api/tasks/${task.id}/complete`, headers: auth, payload: { completed: true } }))
    )
    t.ok(responses.every((response) => response.statusCode === 200))
    const links = new Set(responses.map((response) => json<Task>(response).next_task_id))
    t.equal(links.size, 1, 'every answer names the same occurrence')
    t.equal((await all()).filter((item) => item.title === 'Race').length, 2, 'the task and exactly one occurrence')
  })
  t.test('a write that would leave a recurrence without a due date is a 422 naming recurrence, on PATCH as on PUT', async (t) => {
    // The check constraint keeps such a task from being written. Re-added `not valid`, as a constraint added to a
    // table holding older rows would be, it lets one stand, and every write to it is refused by the database.
    const task = await create({ title: 'No due date', due_date: '2027-03-10T10:00:00Z', recurrence: 'daily' })
    const constraint = sql.identifier(RECURRENCE_NEEDS_DUE_DATE)
    await app.db.orm.execute(sql`alter table tasks drop constraint ${constraint}`)
    await app.db.orm.execute(sql`update tasks set due_date = null where id = ${task.id}`)
    await app.db.orm.execute(sql`alter table tasks add constraint ${constraint} check (recurrence is null or due_date is not null) not valid`)
    const expected = { status: 422, errors: [{ path: '/body/recurrence', message: /needs a due_date/ }] }
    const put = await app.inject({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: auth, payload: { title: 'Renamed' } })
    t.match({ status: put.statusCode, ...json(put) }, expected, 'PUT')
    for (const payload of [undefined, { completed: true }]) {
      const patch = await app.inject({ method: 'PATCH', url: `/api/tasks/${task.id}/complete`, headers: auth, ...(payload && { payload }) })
      t.match({ status: patch.statusCode, ...json(patch) }, expected, `PATCH ${JSON.stringify(payload ?? 'without a body')}`)
    }
  })
})
