import t from 'tap'
import { bearer, buildApp, json } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

/**
 * Isolation is the first security property: user B, through either path style, can neither read, change,
 * toggle nor delete user A's task, nor see it in a list, and A's task is unchanged afterwards.
 */
forEachDriver(t, async (t, databaseUrl) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })
  const alice = bearer('alice')
  const mallory = bearer('mallory')
  const created = await app.inject({ method: 'POST', url: '/api/tasks', headers: alice, payload: { title: 'private', description: 'secret plan' } })
  const task = json<{ id: string }>(created)
  const readAsAlice = async () => json(await app.inject({ url: `/api/tasks/${task.id}`, headers: alice }))
  const original = await readAsAlice()

  const attacks = [
    { method: 'GET' as const, path: `tasks/${task.id}` },
    { method: 'PUT' as const, path: `tasks/${task.id}`, payload: { title: 'pwned' } },
    { method: 'PUT' as const, path: `tasks/${task.id}`, payload: { completed: true } },
    { method: 'PATCH' as const, path: `tasks/${task.id}/complete` },
    { method: 'PATCH' as const, path: `tasks/${task.id}/complete`, payload: { completed: true } },
    { method: 'DELETE' as const, path: `tasks/${task.id}` },
  ]
  for (const base of ['/api', '/api/mallory']) {
    for (const attack of attacks) {
      const url = `${base}/${attack.path}`
      t.test(`${attack.method} ${url} ${JSON.stringify(attack.payload ?? '')}`, async (t) => {
        const response = await app.inject({ method: attack.method, url, headers: mallory, payload: attack.payload })
        t.equal(response.statusCode, 403)
        t.match(response.headers['content-type'], /^application\/problem\+json/)
        const problem = json(response)
        t.match(problem, { status: 403, title: 'Forbidden', detail: `Task ${task.id} belongs to another user.` })
        t.notMatch(response.body, /secret plan|private/, 'nothing of the task leaks')
        t.same(await readAsAlice(), original, "alice's task is unchanged")
      })
    }
  }

  t.test("lists never include another user's tasks", async (t) => {
    for (const url of ['/api/tasks', '/api/mallory/tasks', '/api/tasks?status=pending', '/api/tasks?sort=title']) {
      const response = await app.inject({ url, headers: mallory })
      t.equal(response.statusCode, 200)
      t.same(json(response), [], url)
    }
  })

  t.test('the user-in-path style refuses a path naming someone else, before touching any task', async (t) => {
    const requests = [
      { method: 'GET' as const, url: '/api/alice/tasks' },
      { method: 'POST' as const, url: '/api/alice/tasks', payload: { title: 'planted' } },
      { method: 'GET' as const, url: `/api/alice/tasks/${task.id}` },
      { method: 'PUT' as const, url: `/api/alice/tasks/${task.id}`, payload: { title: 'pwned' } },
      { method: 'PATCH' as const, url: `/api/alice/tasks/${task.id}/complete` },
      { method: 'DELETE' as const, url: `/api/alice/tasks/${task.id}` },
    ]
    for (const request of requests) {
      const response = await app.inject({ ...request, headers: mallory })
      t.equal(response.statusCode, 403, `${request.method} ${request.url}`)
      t.match(json(response), { status: 403, detail: 'The user id in the path is not the authenticated user.' })
    }
    t.same(await readAsAlice(), original)
    const alicesList = json<{ title: string }[]>(await app.inject({ url: '/api/tasks', headers: alice }))
    t.same(alicesList.map((item) => item.title), ['private'], 'nothing was planted in alice’s list')
  })

  t.test('validation still comes before ownership (422, not 403)', async (t) => {
    const response = await app.inject({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: mallory, payload: { title: 7 } })
    t.equal(response.statusCode, 422)
  })
})
