import t, { type Test } from 'tap'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { bearer, buildApp, json, tokenFor } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

/**
 * The token's `sub` is the owner's id exactly as the database stores it (contract §8): a `sub` it cannot store as
 * sent is refused, so no two subs can end up as one owner. On every driver, since each writes text its own way.
 */

const SOME_TASK_ID = '01900000-0000-7000-8000-000000000000'
const UNSTORABLE = "The token's subject (sub) must not contain U+0000 or unpaired surrogates: it could not be stored as sent."

/** Reads and writes of both path styles; `mallory` in the path is what the lone-surrogate subs would collide with. */
const ENDPOINTS: InjectOptions[] = [
  { method: 'GET', url: '/api/tasks' },
  { method: 'POST', url: '/api/tasks', payload: { title: 'must never be written' } },
  { method: 'GET', url: '/api/mallory/tasks' },
  { method: 'PUT', url: `/api/tasks/${SOME_TASK_ID}`, payload: { title: 'must never be written' } },
  { method: 'PATCH', url: `/api/mallory/tasks/${SOME_TASK_ID}/complete` },
  { method: 'DELETE', url: `/api/tasks/${SOME_TASK_ID}` },
]

function assertUnstorable (t: Test, response: LightMyRequestResponse, what: string): void {
  t.equal(response.statusCode, 401, what)
  t.equal(response.headers['www-authenticate'], 'Bearer error="invalid_token"', what)
  t.match(json(response), { status: 401, detail: UNSTORABLE }, what)
}

forEachDriver(t, async (t, databaseUrl) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })

  t.test('U+0000 in the sub: 401 on every endpoint, never a 500', async (t) => {
    const token = tokenFor('mall\u0000ory')
    for (const request of ENDPOINTS) {
      assertUnstorable(t, await app.inject({ ...request, headers: { authorization: `Bearer ${token}` } }), `${request.method} ${request.url}`)
    }
  })

  t.test('an unpaired surrogate in the sub: 401, so it cannot share the owner of its U+FFFD spelling', async (t) => {
    for (const sub of ['mallory\ud800', 'mallory\udc00', '\udc00mallory\ud800']) {
      const token = tokenFor(sub)
      for (const request of ENDPOINTS) {
        const response = await app.inject({ ...request, headers: { authorization: `Bearer ${token}` } })
        assertUnstorable(t, response, `${JSON.stringify(sub)}: ${request.method} ${request.url}`)
      }
    }
  })

  t.test('mallory and mallory\\ufffd (a real character) stay two owners; a surrogate pair is storable', async (t) => {
    const subs = ['mallory', 'mallory\ufffd', 'mallory\ud83d\ude00']
    for (const sub of subs) {
      const created = await app.inject({ method: 'POST', url: '/api/tasks', headers: bearer(sub), payload: { title: `of ${sub}` } })
      t.equal(created.statusCode, 201, JSON.stringify(sub))
      t.equal(json(created).user_id, sub, 'user_id is the sub as sent')
    }
    for (const sub of subs) {
      const list = await app.inject({ url: '/api/tasks', headers: bearer(sub) })
      const owned = json<{ title: string; user_id: string }[]>(list).map((task) => [task.user_id, task.title])
      t.same(owned, [[sub, `of ${sub}`]], `${JSON.stringify(sub)} sees only its own`)
      const viaPath = await app.inject({ url: `/api/${encodeURIComponent(sub)}/tasks`, headers: bearer(sub) })
      t.same(json<{ title: string }[]>(viaPath).map((task) => task.title), [`of ${sub}`], `${JSON.stringify(sub)} in the path style`)
    }
  })
})
