import type { InjectOptions } from 'fastify'
import t from 'tap'
import { bearer, buildApp, json, type TaskJson } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

// What a body may be, and what the problems about bodies and values say (contract §8, issue 15 §6).

const JSON_TYPE = { 'content-type': 'application/json' }

forEachDriver(t, async (t, databaseUrl) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })
  let users = 0
  /** A fresh user with `titles` as tasks: its name, token headers and tasks. */
  async function userWith (titles: string[]) {
    const user = `input-${++users}`
    const auth = bearer(user)
    const tasks: TaskJson[] = []
    for (const title of titles) tasks.push(json<TaskJson>(await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title } })))
    return { user, auth, tasks }
  }
  const countOf = async (auth: Record<string, string>) => (await app.inject({ url: '/api/tasks?limit=1', headers: auth })).headers['x-total-count']

  t.test('an empty body on a route that takes none is no body, whatever its Content-Type', async (t) => {
    const { user, auth, tasks } = await userWith(['one', 'two', 'three', 'four'])
    const [first, second, third, fourth] = tasks as [TaskJson, TaskJson, TaskJson, TaskJson]
    // What a fetch wrapper sends on every call: Content-Type: application/json and nothing after it.
    const deleted = await app.inject({ method: 'DELETE', url: `/api/tasks/${first.id}`, headers: { ...auth, ...JSON_TYPE }, payload: '' })
    t.equal(deleted.statusCode, 204, 'DELETE /api/tasks/{id}')
    const inPath = await app.inject({ method: 'DELETE', url: `/api/${user}/tasks/${second.id}`, headers: { ...auth, ...JSON_TYPE } })
    t.equal(inPath.statusCode, 204, 'DELETE /api/{user_id}/tasks/{id}, without even a Content-Length')
    const plain = await app.inject({ method: 'DELETE', url: `/api/tasks/${third.id}`, headers: { ...auth, 'content-type': 'text/plain' }, payload: '' })
    t.equal(plain.statusCode, 204, 'any Content-Type')
    await app.inject({ method: 'PATCH', url: `/api/tasks/${fourth.id}/complete`, headers: auth })
    for (const url of ['/api/tasks?status=completed', `/api/${user}/tasks?status=completed`]) {
      const cleared = await app.inject({ method: 'DELETE', url, headers: { ...auth, ...JSON_TYPE }, payload: '' })
      t.equal(cleared.statusCode, 200, `DELETE ${url.replace(user, '{user_id}')}`)
    }
    t.equal(await countOf(auth), '0', 'every task was deleted')
    for (const url of ['/api/tasks', '/api/tasks/stats', `/api/${user}/tasks`]) {
      const read = await app.inject({ url, headers: { ...auth, ...JSON_TYPE }, payload: '' })
      t.equal(read.statusCode, 200, `GET ${url.replace(user, '{user_id}')}`)
    }
  })

  t.test('what a body still must be', async (t) => {
    const { user, auth, tasks } = await userWith(['kept'])
    const url = `/api/tasks/${tasks[0]!.id}`
    const text = await app.inject({ method: 'DELETE', url, headers: { ...auth, 'content-type': 'text/plain' }, payload: 'delete it' })
    t.equal(text.statusCode, 415, 'a non-empty body that is not JSON: 415, even where no body is read')
    const broken = await app.inject({ method: 'DELETE', url, headers: { ...auth, ...JSON_TYPE }, payload: '{' })
    t.equal(broken.statusCode, 400, 'unparsable JSON: 400')
    for (const [method, target] of [['POST', '/api/tasks'], ['POST', `/api/${user}/tasks`], ['PUT', url]] as const) {
      const empty = await app.inject({ method, url: target, headers: { ...auth, ...JSON_TYPE }, payload: '' })
      t.equal(empty.statusCode, 422, `${method} ${target.replace(user, '{user_id}')} requires a body: an empty one is a 422`)
      t.match(json(empty), { errors: [{ path: '/body' }] }, 'naming the body')
    }
    t.equal(await countOf(auth), '1', 'nothing was deleted or created')
  })

  t.test('__proto__ and constructor are unknown fields like any other', async (t) => {
    const { auth, tasks } = await userWith(['target'])
    const id = tasks[0]!.id
    // Pairs, not an object literal: `{ __proto__: … }` would set the literal's prototype.
    const bodies = [
      ['__proto__', '{"title":"polluted","__proto__":{"completed":true,"polluted":true}}'],
      ['constructor', '{"title":"polluted","constructor":{"prototype":{"completed":true,"polluted":true}}}'],
    ] as const
    for (const [key, payload] of bodies) {
      for (const [method, url] of [['POST', '/api/tasks'], ['PUT', `/api/tasks/${id}`], ['PATCH', `/api/tasks/${id}/complete`]] as const) {
        const response = await app.inject({ method, url, headers: { ...auth, ...JSON_TYPE }, payload: method === 'PATCH' ? payload.replace('"title":"polluted",', '') : payload })
        t.equal(response.statusCode, 422, `${method} with ${key}: 422`)
        t.same(json(response).errors, [{ path: `/body/${key}`, message: 'is not a known field' }], `${method} with ${key}: names the field`)
      }
    }
    t.equal(({} as Record<string, unknown>).polluted, undefined, "no object's prototype changed")
    const task = json<TaskJson>(await app.inject({ url: `/api/tasks/${id}`, headers: auth }))
    t.match(task, { title: 'target', completed: false }, 'the task is as it was')
    t.equal(await countOf(auth), '1', 'nothing was created')
  })

  t.test('a body that is not valid UTF-8 is a 400 and nothing is stored', async (t) => {
    const { auth, tasks } = await userWith(['untouched'])
    const id = tasks[0]!.id
    const withBytes = (bytes: number[]) => Buffer.concat([Buffer.from('{"title":"bad'), Buffer.from(bytes), Buffer.from('"}')])
    for (const [what, bytes] of [['FF FE', [0xff, 0xfe]], ['overlong C0 80', [0xc0, 0x80]], ['a lone continuation byte', [0x80]], ['a truncated sequence', [0xe2, 0x82]]] as const) {
      for (const [method, url] of [['POST', '/api/tasks'], ['PUT', `/api/tasks/${id}`]] as const) {
        const response = await app.inject({ method, url, headers: { ...auth, ...JSON_TYPE }, payload: withBytes([...bytes]) })
        t.equal(response.statusCode, 400, `${method} with ${what}: 400`)
        t.match(json(response), { status: 400, detail: /UTF-8/ }, `${method} with ${what}: says why`)
      }
    }
    t.equal(await countOf(auth), '1', 'nothing was created')
    t.equal(json<TaskJson>(await app.inject({ url: `/api/tasks/${id}`, headers: auth })).title, 'untouched', 'nothing was changed')
    const valid = await app.inject({ method: 'POST', url: '/api/tasks', headers: { ...auth, ...JSON_TYPE }, payload: Buffer.from('{"title":"Crème brûlée 🍮 für 東京"}') })
    t.equal(json<TaskJson>(valid).title, 'Crème brûlée 🍮 für 東京', 'valid UTF-8 in every length is stored as sent')
  })
})

t.test('problems say what to send instead', async (t) => {
  const app = await buildApp(t)
  const auth = bearer('messages')
  const errorsOf = async (request: InjectOptions) => json<{ errors: { path: string; message: string }[] }>(await app.inject(request)).errors

  // What an HTML datetime-local input gives, with and without seconds: no offset.
  for (const local of ['2026-12-01T10:00', '2026-12-01T10:00:00']) {
    const [body] = await errorsOf({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'x', due_date: local } })
    t.equal(body?.path, '/body/due_date')
    t.match(body?.message, /offset/, `${local}: says an offset is required`)
    t.match(body?.message, /2026-12-01T09:00:00Z/, `${local}: with an example`)
    const [query] = await errorsOf({ url: `/api/tasks?due_before=${local}`, headers: auth })
    t.match(query, { path: '/querystring/due_before', message: /offset/ }, `${local} in a query`)
  }

  const [priority] = await errorsOf({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'x', priority: 'urgent' } })
  t.same(priority, { path: '/body/priority', message: 'must be one of "low", "medium", "high"' }, 'a bad choice lists the allowed ones')
  const [recurrence] = await errorsOf({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'x', due_date: '2026-12-01T09:00:00Z', recurrence: 'hourly' } })
  t.same(recurrence, { path: '/body/recurrence', message: 'must be one of "daily", "weekly", "monthly", "yearly", null' }, 'null too, where it is allowed')
  const [status] = await errorsOf({ url: '/api/tasks?status=done', headers: auth })
  t.same(status, { path: '/querystring/status', message: 'must be one of "all", "pending", "completed"' }, 'in a query too')

  const unsupported = {
    'text/plain': { 'content-type': 'text/plain' },
    'a JSON-like type': { 'content-type': 'application/vnd.api+json' },
    'a form': { 'content-type': 'application/x-www-form-urlencoded' },
    'no Content-Type': {},
    'a Content-Type that is not a media type': { 'content-type': 'json please' },
  }
  for (const [what, headers] of Object.entries(unsupported)) {
    const response = await app.inject({ method: 'POST', url: '/api/tasks', headers: { ...auth, ...headers }, payload: Buffer.from('{"title":"x"}') })
    t.equal(response.statusCode, 415, `${what}: 415`)
    t.match(json(response).detail, /Content-Type: application\/json/, `${what}: says to send Content-Type: application/json`)
  }
})
