import t from 'tap'
import { bearer, buildApp, json, type TaskJson as Task } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** Both path styles address the same resource; every behaviour below is checked through each. */
const STYLES = [
  { name: '/api/tasks', base: (_user: string) => '/api/tasks' },
  { name: '/api/{user_id}/tasks', base: (user: string) => `/api/${encodeURIComponent(user)}/tasks` },
]

forEachDriver(t, async (t, databaseUrl) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })

  for (const style of STYLES) {
    t.test(style.name, async (t) => {
      const user = `user-${Math.random().toString(36).slice(2)}`
      const base = style.base(user)
      const auth = bearer(user)
      const create = async (body: unknown) => app.inject({ method: 'POST', url: base, headers: auth, payload: body as object })

      t.test('create answers 201 with the task, its Location and defaults', async (t) => {
        const before = Date.now()
        const response = await create({ title: '  Buy milk  ', description: '  two litres ' })
        t.equal(response.statusCode, 201)
        t.match(response.headers['content-type'], /^application\/json/)
        const task = json<Task>(response)
        t.match(task.id, UUID_V7)
        t.equal(response.headers.location, `/api/tasks/${task.id}`)
        t.same(
          { ...task, id: undefined, created_at: undefined, updated_at: undefined },
          {
            id: undefined,
            user_id: user,
            title: 'Buy milk',
            description: 'two litres',
            completed: false,
            completed_at: null,
            priority: 'medium',
            tags: [],
            due_date: null,
            recurrence: null,
            next_task_id: null,
            created_at: undefined,
            updated_at: undefined,
          }
        )
        t.match(task.created_at, RFC3339_MS)
        t.equal(task.updated_at, task.created_at)
        t.ok(Date.parse(task.created_at) >= before - 1000, 'created_at is now')
      })

      t.test('create normalises text: blank description becomes null; completed sets completed_at', async (t) => {
        const task = json<Task>(await create({ title: 'x', description: '   ', completed: true }))
        t.equal(task.description, null)
        t.equal(task.completed, true)
        t.match(task.completed_at, RFC3339_MS)
      })

      t.test('text limits count Unicode code points after trimming', async (t) => {
        const emoji200 = '😀'.repeat(200)
        const ok = await create({ title: ` ${emoji200} `, description: 'é'.repeat(1000) })
        t.equal(ok.statusCode, 201)
        t.equal(json<Task>(ok).title, emoji200)
        const tooLong = await create({ title: '😀'.repeat(201) })
        t.equal(tooLong.statusCode, 422)
        t.same(json(tooLong).errors, [{ path: '/body/title', message: 'must NOT have more than 200 characters' }])
        const longDescription = await create({ title: 'x', description: 'd'.repeat(1001) })
        t.equal(longDescription.statusCode, 422)
        t.match(json(longDescription).errors, [{ path: '/body/description' }])
      })

      t.test('create rejects bad bodies with 422 naming the field, and writes nothing', async (t) => {
        const cases: [unknown, string, RegExp][] = [
          [{}, '/body/title', /required/],
          [{ title: '   ' }, '/body/title', /fewer than 1/],
          [{ title: 42 }, '/body/title', /must be string/],
          [{ title: 'x', completed: 'true' }, '/body/completed', /must be boolean/],
          [{ title: 'x', owner: 'me' }, '/body/owner', /not a known field/],
          [{ title: 'x', user_id: 'someone-else' }, '/body/user_id', /not a known field/],
          [{ title: 'a\u0000b' }, '/body/title', /U\+0000/],
          [{ title: 'a\ud800b' }, '/body/title', /unpaired surrogates/],
          [{ title: 'x', description: 'a\u0000' }, '/body/description', /U\+0000/],
          [[{ title: 'x' }], '/body', /must be object/],
        ]
        const listBefore = json<Task[]>(await app.inject({ url: base, headers: auth }))
        for (const [body, path, message] of cases) {
          const response = await create(body)
          t.equal(response.statusCode, 422, JSON.stringify(body))
          t.match(response.headers['content-type'], /^application\/problem\+json/)
          const problem = json(response)
          t.match(problem, { type: 'about:blank', title: 'Unprocessable Entity', status: 422, request_id: response.headers['x-request-id'] })
          t.match(problem.errors, [{ path, message }], JSON.stringify(body))
        }
        const listAfter = json<Task[]>(await app.inject({ url: base, headers: auth }))
        t.equal(listAfter.length, listBefore.length, 'no row was written')
      })

      t.test('bodies that are not JSON: 415 by Content-Type, 400 when unparsable', async (t) => {
        const text = await app.inject({ method: 'POST', url: base, headers: { ...auth, 'content-type': 'text/plain' }, payload: 'title=x' })
        t.equal(text.statusCode, 415)
        t.match(json(text), { status: 415, title: 'Unsupported Media Type' })
        const form = await app.inject({ method: 'POST', url: base, headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'title=x' })
        t.equal(form.statusCode, 415)
        const broken = await app.inject({ method: 'POST', url: base, headers: { ...auth, 'content-type': 'application/json' }, payload: '{"title": ' })
        t.equal(broken.statusCode, 400)
        t.match(broken.headers['content-type'], /^application\/problem\+json/)
        t.match(json(broken), { status: 400, title: 'Bad Request', request_id: String })
      })

      t.test('get answers the task; unknown id 404; malformed id 422', async (t) => {
        const created = json<Task>(await create({ title: 'find me' }))
        const found = await app.inject({ url: `${base}/${created.id}`, headers: auth })
        t.equal(found.statusCode, 200)
        t.same(json(found), created)
        const missingId = '01900000-0000-7000-8000-000000000000'
        const missing = await app.inject({ url: `${base}/${missingId}`, headers: auth })
        t.equal(missing.statusCode, 404)
        t.match(json(missing), { status: 404, title: 'Not Found', detail: `Task ${missingId} not found.` })
        const malformed = await app.inject({ url: `${base}/not-a-uuid`, headers: auth })
        t.equal(malformed.statusCode, 422)
        t.match(json(malformed).errors, [{ path: '/params/id', message: 'must be a UUID' }])
        const urn = await app.inject({ url: `${base}/urn:uuid:${created.id}`, headers: auth })
        t.equal(urn.statusCode, 422, 'the urn:uuid: form, which Ajv would take and PostgreSQL refuses')
        t.match(json(urn).errors, [{ path: '/params/id' }])
        const query = await app.inject({ url: `${base}/${created.id}?fields=title`, headers: auth })
        t.equal(query.statusCode, 422, 'an unknown query parameter')
        t.match(json(query).errors, [{ path: '/querystring/fields' }])
      })

      t.test('update changes only the given fields', async (t) => {
        const created = json<Task>(await create({ title: 'old', description: 'keep me' }))
        const response = await app.inject({ method: 'PUT', url: `${base}/${created.id}`, headers: auth, payload: { title: ' new ' } })
        t.equal(response.statusCode, 200)
        const updated = json<Task>(response)
        t.same({ ...updated, updated_at: undefined }, { ...created, title: 'new', updated_at: undefined })
        t.ok(updated.updated_at >= created.updated_at)
        const cleared = json<Task>(await app.inject({ method: 'PUT', url: `${base}/${created.id}`, headers: auth, payload: { description: null } }))
        t.equal(cleared.description, null)
        t.equal(cleared.title, 'new')
      })

      t.test('update with identical values leaves updated_at alone', async (t) => {
        const created = json<Task>(await create({ title: 'same' }))
        await new Promise((resolve) => setTimeout(resolve, 5))
        const response = await app.inject({ method: 'PUT', url: `${base}/${created.id}`, headers: auth, payload: { title: 'same', completed: false } })
        t.same(json(response), created)
      })

      t.test('update via completed sets and clears completed_at', async (t) => {
        const created = json<Task>(await create({ title: 'finish' }))
        const done = json<Task>(await app.inject({ method: 'PUT', url: `${base}/${created.id}`, headers: auth, payload: { completed: true } }))
        t.equal(done.completed, true)
        t.match(done.completed_at, RFC3339_MS)
        const undone = json<Task>(await app.inject({ method: 'PUT', url: `${base}/${created.id}`, headers: auth, payload: { completed: false } }))
        t.equal(undone.completed, false)
        t.equal(undone.completed_at, null)
      })

      t.test('update rejects an empty body, unknown fields and coercible types', async (t) => {
        const created = json<Task>(await create({ title: 'guarded' }))
        const url = `${base}/${created.id}`
        for (const [payload, path] of [
          [{}, '/body'],
          [{ id: created.id }, '/body/id'],
          [{ completed: 1 }, '/body/completed'],
          [{ title: '' }, '/body/title'],
        ] as const) {
          const response = await app.inject({ method: 'PUT', url, headers: auth, payload })
          t.equal(response.statusCode, 422, JSON.stringify(payload))
          t.match(json(response).errors, [{ path }])
        }
        const missing = await app.inject({ method: 'PUT', url: `${base}/01900000-0000-7000-8000-000000000000`, headers: auth, payload: { title: 'x' } })
        t.equal(missing.statusCode, 404)
        t.same(json(await app.inject({ url, headers: auth })), created, 'unchanged')
      })

      t.test('PATCH complete toggles with no body, an empty body or {}', async (t) => {
        const created = json<Task>(await create({ title: 'toggle' }))
        const url = `${base}/${created.id}/complete`
        const requests = [
          { method: 'PATCH' as const, url, headers: auth },
          { method: 'PATCH' as const, url, headers: { ...auth, 'content-type': 'application/json' }, payload: '' },
          { method: 'PATCH' as const, url, headers: { ...auth, 'content-type': 'text/plain' }, payload: '' },
          { method: 'PATCH' as const, url, headers: auth, payload: {} },
        ]
        let expected = false
        for (const request of requests) {
          expected = !expected
          const response = await app.inject(request)
          t.equal(response.statusCode, 200, JSON.stringify(request.headers))
          const task = json<Task>(response)
          t.equal(task.completed, expected)
          t.equal(task.completed_at === null, !expected)
        }
      })

      t.test('PATCH complete with a body sets the value, and repeating it changes nothing', async (t) => {
        const created = json<Task>(await create({ title: 'idempotent' }))
        const url = `${base}/${created.id}/complete`
        const first = json<Task>(await app.inject({ method: 'PATCH', url, headers: auth, payload: { completed: true } }))
        t.equal(first.completed, true)
        t.match(first.completed_at, RFC3339_MS)
        await new Promise((resolve) => setTimeout(resolve, 5))
        const again = json<Task>(await app.inject({ method: 'PATCH', url, headers: auth, payload: { completed: true } }))
        t.same(again, first, 'neither updated_at nor completed_at moved')
        const off = json<Task>(await app.inject({ method: 'PATCH', url, headers: auth, payload: { completed: false } }))
        t.equal(off.completed, false)
        t.equal(off.completed_at, null)
      })

      t.test('PATCH complete rejects bad bodies', async (t) => {
        const created = json<Task>(await create({ title: 'strict' }))
        const url = `${base}/${created.id}/complete`
        const coerced = await app.inject({ method: 'PATCH', url, headers: auth, payload: { completed: 'true' } })
        t.equal(coerced.statusCode, 422)
        t.match(json(coerced).errors, [{ path: '/body/completed' }])
        const extra = await app.inject({ method: 'PATCH', url, headers: auth, payload: { done: true } })
        t.equal(extra.statusCode, 422)
        const text = await app.inject({ method: 'PATCH', url, headers: { ...auth, 'content-type': 'text/plain' }, payload: 'yes' })
        t.equal(text.statusCode, 415)
        t.match(json(text), { status: 415, detail: /text\/plain/ })
        const nullBody = await app.inject({ method: 'PATCH', url, headers: { ...auth, 'content-type': 'application/json' }, payload: 'null' })
        t.equal(nullBody.statusCode, 422, 'JSON null is not "no body"')
        const untyped = await app.inject({ method: 'PATCH', url, headers: auth, payload: 'yes' })
        t.equal(untyped.statusCode, 415, 'a body without a Content-Type')
        t.match(json(untyped), { status: 415, detail: /none/ })
        const broken = await app.inject({ method: 'PATCH', url, headers: { ...auth, 'content-type': 'application/json' }, payload: '{' })
        t.equal(broken.statusCode, 400)
        const missing = await app.inject({ method: 'PATCH', url: `${base}/01900000-0000-7000-8000-000000000000/complete`, headers: auth })
        t.equal(missing.statusCode, 404)
        t.same(json(await app.inject({ url: `${base}/${created.id}`, headers: auth })), created, 'unchanged')
      })

      t.test('delete answers 204, then the task is gone', async (t) => {
        const created = json<Task>(await create({ title: 'bye' }))
        const response = await app.inject({ method: 'DELETE', url: `${base}/${created.id}`, headers: auth })
        t.equal(response.statusCode, 204)
        t.equal(response.body, '')
        t.equal((await app.inject({ url: `${base}/${created.id}`, headers: auth })).statusCode, 404)
        const again = await app.inject({ method: 'DELETE', url: `${base}/${created.id}`, headers: auth })
        t.equal(again.statusCode, 404)
        t.match(json(again), { status: 404 })
      })
    })
  }

  t.test('the two path styles serve the same tasks', async (t) => {
    const user = 'style-user'
    const created = json<Task>(await app.inject({ method: 'POST', url: '/api/tasks', headers: bearer(user), payload: { title: 'one' } }))
    const viaUserPath = await app.inject({ url: `/api/${user}/tasks/${created.id}`, headers: bearer(user) })
    t.same(json(viaUserPath), created)
    const list = json<Task[]>(await app.inject({ url: `/api/${user}/tasks`, headers: bearer(user) }))
    t.same(list.map((task) => task.id), [created.id])
  })
})
