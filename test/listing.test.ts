import t from 'tap'
import { bearer, buildApp, json, type TaskJson as Task } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

forEachDriver(t, async (t, databaseUrl) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })
  const auth = bearer('lister')
  const list = async (query = '') => {
    const response = await app.inject({ url: `/api/tasks${query}`, headers: auth })
    t.equal(response.statusCode, 200, query)
    return json<Task[]>(response)
  }
  const titles = (tasks: Task[]) => tasks.map((task) => task.title)

  // Titles in mixed case, created in this order, with a pause so created_at differs between some of them.
  const created: Task[] = []
  for (const title of ['banana', 'Apple', 'cherry', 'apple']) {
    created.push(json<Task>(await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title } })))
    await new Promise((resolve) => setTimeout(resolve, 3))
  }
  await app.inject({ method: 'PATCH', url: `/api/tasks/${created[2]!.id}/complete`, headers: auth })
  // Touch the oldest one last, so "updated" order differs from "created" order.
  await app.inject({ method: 'PUT', url: `/api/tasks/${created[0]!.id}`, headers: auth, payload: { title: 'Banana' } })

  t.test('default: every task, newest first', async (t) => {
    t.same(titles(await list()), ['apple', 'cherry', 'Apple', 'Banana'])
    t.same(titles(await list('?status=all&sort=created&order=desc')), ['apple', 'cherry', 'Apple', 'Banana'])
  })

  t.test('status filters', async (t) => {
    t.same(titles(await list('?status=completed')), ['cherry'])
    t.same(titles(await list('?status=pending')), ['apple', 'Apple', 'Banana'])
  })

  t.test('sort by created ascending', async (t) => {
    t.same(titles(await list('?sort=created&order=asc')), ['Banana', 'Apple', 'cherry', 'apple'])
  })

  t.test('sort by updated: most recently changed first by default', async (t) => {
    const tasks = await list('?sort=updated')
    t.equal(tasks[0]!.title, 'Banana')
    for (let i = 1; i < tasks.length; i++) t.ok(tasks[i - 1]!.updated_at >= tasks[i]!.updated_at, 'descending updated_at')
    t.same(titles(await list('?sort=updated&order=asc')), titles(tasks).reverse())
  })

  t.test('sort by title: case-insensitive, ascending by default, ties broken by id', async (t) => {
    const apples = created.filter((task) => task.title.toLowerCase() === 'apple').map((task) => task.id).sort()
    const ascending = await list('?sort=title')
    t.same(ascending.map((task) => task.title.toLowerCase()), ['apple', 'apple', 'banana', 'cherry'])
    t.same(ascending.slice(0, 2).map((task) => task.id), apples, 'tie on title: ascending id')
    const descending = await list('?sort=title&order=desc')
    t.same(descending.map((task) => task.title.toLowerCase()), ['cherry', 'banana', 'apple', 'apple'])
    t.same(descending.slice(2).map((task) => task.id), [...apples].reverse(), 'tie on title: descending id')
  })
})
