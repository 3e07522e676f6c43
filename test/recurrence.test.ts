import t from 'tap'
import { bearer, buildApp, json, type TaskJson as Task } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

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
      await app.inject({ method: 'PUT', url: `/api/tasks/${(await create({ title: 'Stop', due_date: '2027-03-10T10:00:00Z', recurrence: 'daily' })).id}`, headers: auth, payload: { completed: true, recurrence: null } }),
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
      Array.from({ length: 10 }, () => app.inject({ method: 'PATCH', url: `/api/tasks/${task.id}/complete`, headers: auth, payload: { completed: true } })),
    )
    t.ok(responses.every((response) => response.statusCode === 200))
    const links = new Set(responses.map((response) => json<Task>(response).next_task_id))
    t.equal(links.size, 1, 'every answer names the same occurrence')
    t.equal((await all()).filter((item) => item.title === 'Race').length, 2, 'the task and exactly one occurrence')
  })
})
