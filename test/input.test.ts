import t from 'tap'
import { bearer, buildApp, json, type TaskJson } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

// What a body may be (contract §8, issue 15 §6).

const JSON_TYPE = { 'content-type': 'application/json' }

forEachDriver(t, async (t, databaseUrl) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })
  let users = 0
  /** A fresh user with `titles` as tasks: its name, token headers and tasks. */
  async function userWith(titles: string[]) {
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
