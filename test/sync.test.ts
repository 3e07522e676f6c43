import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { eq } from 'drizzle-orm'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import pg from 'pg'
import t, { type Test } from 'tap'
import { feedWatermark, tasks } from '../src/db/schema.js'
import { bearer, buildApp, json, listen, type TaskJson as Task } from './support/app.js'
import { adminQuery, databaseUrlFor, forEachDriver, TEST_DATABASE_URL } from './support/drivers.js'

/**
 * Contract §9, incremental sync: `GET …/tasks/changes`. A client that starts from nothing and applies every page
 * in order ends with exactly the server's live tasks; deleted tasks are tombstones in the feed and gone everywhere
 * else; tokens are the caller's own, and refused with 410 once the purge took a tombstone they still need.
 */

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const PROBLEM = /^application\/problem\+json/
const HOUR = 60 * 60 * 1000
const DAY = 24 * HOUR

interface Tombstone {
  id: string
  deleted: true
  deleted_at: string
}
type Change = Task | Tombstone
interface ChangesPage {
  changes: Change[]
  next: string
  has_more: boolean
}
/** One request for a page of the feed, from `since` (absent: from nothing); throws unless it answers 200. */
type Pull = (since: string | undefined) => Promise<ChangesPage>
type Headers = Record<string, string>

const isTombstone = (change: Change): change is Tombstone => 'deleted' in change
const ids = (items: { id: string }[]) => items.map((item) => item.id)
const byId = <T extends { id: string }>(items: Iterable<T>): T[] => [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
const uniqueUser = (name: string) => `${name}-${Math.random().toString(36).slice(2, 10)}`
const base64url = (text: string) => Buffer.from(text).toString('base64url')

/** Both path styles serve the feed: `/api/tasks/changes` and `/api/{user_id}/tasks/changes`. */
const STYLES = [
  { name: '/api/tasks', base: (_user: string) => '/api/tasks' },
  { name: '/api/{user_id}/tasks', base: (user: string) => `/api/${encodeURIComponent(user)}/tasks` },
]

/** The raw response of one feed request, for the tests that look at statuses and problems. */
function changesRequest (app: FastifyInstance, headers: Headers, query: Record<string, string>, base = '/api/tasks'): Promise<LightMyRequestResponse> {
  return app.inject({ url: `${base}/changes`, query, headers })
}

/** A Pull through app.inject. */
function pull (app: FastifyInstance, headers: Headers, { limit, base = '/api/tasks' }: { limit?: number; base?: string } = {}): Pull {
  return async (since) => {
    const query = { ...(since !== undefined && { since }), ...(limit !== undefined && { limit: String(limit) }) }
    const response = await changesRequest(app, headers, query, base)
    if (response.statusCode !== 200) throw new Error(`GET ${base}/changes answered ${response.statusCode}: ${response.body}`)
    return json<ChangesPage>(response)
  }
}

interface Pulled {
  /** Every change of every page, in the order received. */
  changes: Change[]
  /** The token to continue from. */
  next: string
  pages: ChangesPage[]
}

/**
 * Pulls from `since`, page after page until `has_more` is false; while `done(changes so far)` does not hold, waits
 * a moment and pulls again from the latest `next`, for up to 5 s. Why: a write commits after its answer is sent,
 * and one that commits behind the position a client's pass has read up to reaches it on the next pass (never out of
 * order, never lost). Absence is never concluded from this.
 */
async function pullUntil (pullPage: Pull, since: string | undefined, done: (changes: Change[]) => boolean): Promise<Pulled> {
  const deadline = Date.now() + 5000
  const pages: ChangesPage[] = []
  let next = since
  for (;;) {
    let page: ChangesPage
    do {
      if (pages.length > 1000) throw new Error('the feed never ends: has_more stays true')
      page = await pullPage(next)
      pages.push(page)
      next = page.next
    } while (page.has_more)
    const changes = pages.flatMap((each) => each.changes)
    if (done(changes) || Date.now() > deadline) return { changes, next: page.next, pages }
    await sleep(100)
  }
}

/** `done` for pullUntil: every one of these tasks has a change (a task or a tombstone). */
const hasAll = (wanted: { id: string }[]) => (changes: Change[]) => wanted.every((task) => changes.some((change) => change.id === task.id))

/** What a client does with a page: a task replaces its copy, a tombstone removes it. */
function applyPage (replica: Map<string, Task>, changes: Change[]): void {
  for (const change of changes) {
    if (isTombstone(change)) replica.delete(change.id)
    else replica.set(change.id, change)
  }
}

/** `done` for pullUntil: the replica with these changes applied holds exactly `live`. */
const convergesTo = (replica: Map<string, Task>, live: Task[]) => (changes: Change[]) => {
  const copy = new Map(replica)
  applyPage(copy, changes)
  return JSON.stringify(byId(copy.values())) === JSON.stringify(live)
}

/**
 * Pulls whole passes into `replica` until one brings nothing, and returns its token: from it, the next pass holds
 * only changes made after this call. (A pass may re-send changes the replica has: the feed re-reads what a late
 * commit could have landed behind, until a pass begins after every transaction older than those changes ended.
 * Other sessions on the test server, other test runs included, can hold that for seconds.) Gives up after 20 s.
 */
async function settled (pullPage: Pull, since: string | undefined, replica: Map<string, Task>): Promise<string> {
  const deadline = Date.now() + 20_000
  for (let next = since; ; await sleep(50)) {
    const pass = await pullUntil(pullPage, next, () => true)
    applyPage(replica, pass.changes)
    if (pass.changes.length === 0) return pass.next
    if (Date.now() > deadline) throw new Error('the feed did not settle within 20 s')
    next = pass.next
  }
}

/**
 * settled, for a replica that already holds every change: passes may only re-send what it has. Checks that the
 * replica did not change (nothing new came), and returns the token.
 */
async function settledAsIs (t: Test, pullPage: Pull, since: string, replica: Map<string, Task>, label: string): Promise<string> {
  const before = JSON.stringify(byId(replica.values()))
  const next = await settled(pullPage, since, replica)
  t.equal(JSON.stringify(byId(replica.values())), before, label)
  return next
}

/** A request through app.inject that must succeed; its JSON body (none for 204). */
async function send<T = Task> (app: FastifyInstance, headers: Headers, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object): Promise<T> {
  const response = await app.inject({ method, url, headers, ...(payload !== undefined && { payload }) })
  if (response.statusCode >= 300) throw new Error(`${method} ${url} answered ${response.statusCode}: ${response.body}`)
  return (response.statusCode === 204 ? undefined : json(response)) as T
}

/** The live tasks as GET /api/tasks lists them, every page followed through `Link`, sorted by id. */
async function liveTasks (app: FastifyInstance, headers: Headers, base = '/api/tasks'): Promise<Task[]> {
  const found: Task[] = []
  for (let url: string | undefined = `${base}?limit=500`; url !== undefined;) {
    const response: LightMyRequestResponse = await app.inject({ url, headers })
    if (response.statusCode !== 200) throw new Error(`GET ${url} answered ${response.statusCode}: ${response.body}`)
    found.push(...json<Task[]>(response))
    url = /<([^>]+)>;\s*rel="next"/.exec(String(response.headers.link ?? ''))?.[1]
  }
  return byId(found)
}

t.test('the change feed', async (t) => {
  forEachDriver(t, async (t, databaseUrl) => {
    const app = await buildApp(t, { DATABASE_URL: databaseUrl })

    // One client's life, step by step: each subtest continues from the previous one's token and replica.
    t.test('a client syncs from nothing, then incrementally, and its replica is the live set', async (t) => {
      const user = uniqueUser('syncer')
      const auth = bearer(user)
      const create = (body: object) => send(app, auth, 'POST', '/api/tasks', body)
      const get = (task: { id: string }) => send(app, auth, 'GET', `/api/tasks/${task.id}`)
      const replica = new Map<string, Task>()
      let token = ''
      const created: Task[] = []

      t.test('full sync: pages of 3 through `next` hold each live task once, as GET shows it, and no tombstones', async (t) => {
        for (let i = 0; i < 7; i++) {
          created.push(
            await create({
              title: `task ${i}`,
              priority: (['low', 'medium', 'high'] as const)[i % 3],
              tags: i % 2 === 0 ? ['even'] : [],
              ...(i === 3 && { due_date: '2031-01-31T09:00:00Z', description: 'due' }),
              ...(i === 6 && { due_date: '2031-01-31T09:00:00Z', recurrence: 'monthly', description: 'recurs' }),
            })
          )
        }
        const [t0, t1, t2, t3, t4, t5, t6] = created as [Task, Task, Task, Task, Task, Task, Task]
        await send(app, auth, 'DELETE', `/api/tasks/${t1.id}`)
        await send(app, auth, 'DELETE', `/api/tasks/${t4.id}`)
        // Written after the deletions, so it moves to the end of the feed.
        await send(app, auth, 'PUT', `/api/tasks/${t0.id}`, { title: 'task 0, renamed' })
        // Wait (with a throwaway sync) until a pass from nothing has begun after every write ended: the real
        // first sync below then starts above them all (its floor), so the pages it walks are deterministic.
        const throwaway = new Map<string, Task>()
        await settled(pull(app, auth), undefined, throwaway)
        t.equal(throwaway.get(t0.id)?.title, 'task 0, renamed', 'the writes reached the feed')

        const full = await pullUntil(pull(app, auth, { limit: 3 }), undefined, hasAll([t0, t2, t3, t5, t6]))
        t.strictSame(
          full.pages.map((page) => [page.changes.length, page.has_more]),
          [
            [3, true],
            [2, false],
          ],
          'two pages: 3 changes and more, then the last 2'
        )
        t.strictSame(ids(full.changes), ids([t2, t3, t5, t6, t0]), 'each live task once, oldest change first (the renamed task last)')
        t.notOk(full.changes.some(isTombstone), 'no tombstones in a first sync')
        for (const change of full.changes) t.strictSame(change, await get(change), `${change.id} as GET shows it`)
        for (const page of full.pages) t.type(page.next, 'string')
        applyPage(replica, full.changes)
        token = await settledAsIs(t, pull(app, auth), full.next, replica, 'then nothing new')
      })

      t.test('incremental: exactly the four changes since, oldest first; then nothing', async (t) => {
        const [, , t2, t3, , t5] = created as [Task, Task, Task, Task, Task, Task, Task]
        await send(app, auth, 'PUT', `/api/tasks/${t2.id}`, { title: 'task 2, edited', tags: ['edited'] })
        await send(app, auth, 'PATCH', `/api/tasks/${t3.id}/complete`, { completed: true })
        await send(app, auth, 'DELETE', `/api/tasks/${t5.id}`)
        const t7 = await create({ title: 'task 7', priority: 'high' })
        created.push(t7)

        const pulled = await pullUntil(pull(app, auth), token, hasAll([t2, t3, t5, t7]))
        t.strictSame(ids(pulled.changes), ids([t2, t3, t5, t7]), 'in the order the writes were made')
        const [edited, completed, deleted, added] = pulled.changes as [Change, Change, Change, Change]
        t.strictSame(edited, await get(t2))
        t.match(edited, { title: 'task 2, edited', tags: ['edited'] })
        t.strictSame(completed, await get(t3))
        t.match(completed, { completed: true, completed_at: RFC3339_MS })
        t.strictSame(added, await get(t7))
        t.strictSame(Object.keys(deleted).sort(), ['deleted', 'deleted_at', 'id'], 'a tombstone is only id, deleted, deleted_at')
        t.match(deleted, { id: t5.id, deleted: true, deleted_at: RFC3339_MS })
        t.ok(Date.parse((deleted as Tombstone).deleted_at) >= Date.parse(t5.created_at), 'deleted after it was created')
        applyPage(replica, pulled.changes)
        // Everything written has been seen, so this is a real "nothing changed", not "not visible yet".
        token = await settledAsIs(t, pull(app, auth), pulled.next, replica, 'then nothing new')
        const idle = await pull(app, auth)(token)
        t.strictSame(idle.changes, [])
        t.equal(idle.has_more, false)
        token = idle.next
      })

      t.test('a task changed twice comes once, in its latest state; one created and deleted comes as a tombstone', async (t) => {
        const [t0, , t2, , , , t6] = created as [Task, Task, Task, Task, Task, Task, Task]
        await send(app, auth, 'PUT', `/api/tasks/${t2.id}`, { title: 'task 2, second' })
        await send(app, auth, 'PUT', `/api/tasks/${t0.id}`, { priority: 'high' })
        const brief = await create({ title: 'here and gone' })
        await send(app, auth, 'DELETE', `/api/tasks/${brief.id}`)
        // Completing a recurring task creates its next occurrence in the same statement: both are in the feed.
        const spawned = { id: (await send(app, auth, 'PATCH', `/api/tasks/${t6.id}/complete`)).next_task_id as string }
        t.type(spawned.id, 'string', 'completing the recurring task linked its next occurrence')
        await send(app, auth, 'PUT', `/api/tasks/${t2.id}`, { title: 'task 2, third' })

        // Pages of one: the recurring task and its occurrence share a transaction, and paging splits it.
        const pulled = await pullUntil(pull(app, auth, { limit: 1 }), token, hasAll([t0, brief, t6, spawned, t2]))
        t.strictSame(ids(pulled.changes), ids([t0, brief, t6, spawned, t2]), 'each once, at its latest change')
        t.strictSame(pulled.changes[0], await get(t0))
        t.match(pulled.changes[1], { id: brief.id, deleted: true, deleted_at: RFC3339_MS })
        t.strictSame(pulled.changes[2], await get(t6))
        t.strictSame(pulled.changes[3], await get(spawned))
        t.match(pulled.changes[3], { title: 'task 6', completed: false, due_date: '2031-02-28T09:00:00.000Z', recurrence: 'monthly' })
        t.strictSame(pulled.changes[4], await get(t2))
        t.match(pulled.changes[4], { title: 'task 2, third' })
        applyPage(replica, pulled.changes)
        token = await settledAsIs(t, pull(app, auth), pulled.next, replica, 'then nothing new')
      })

      t.test('writes that change nothing, or are refused, are not changes', async (t) => {
        const [t0, , t2, t3, , , , t7] = created as [Task, Task, Task, Task, Task, Task, Task, Task]
        await send(app, auth, 'PUT', `/api/tasks/${t0.id}`, { priority: 'high' })
        await send(app, auth, 'PATCH', `/api/tasks/${t3.id}/complete`, { completed: true })
        const refused = await app.inject({ method: 'PUT', url: `/api/tasks/${t2.id}`, headers: { ...auth, 'if-match': '"1"' }, payload: { title: 'stale' } })
        t.equal(refused.statusCode, 412)
        // A real change after them: once it shows, any change they had made would show before it.
        await send(app, auth, 'PUT', `/api/tasks/${t7.id}`, { description: 'the marker' })
        const pulled = await pullUntil(pull(app, auth), token, hasAll([t7]))
        t.strictSame(ids(pulled.changes), [t7.id], 'only the real change')
        t.strictSame(pulled.changes[0], await get(t7))
        applyPage(replica, pulled.changes)
        token = await settledAsIs(t, pull(app, auth), pulled.next, replica, 'then nothing new')
      })

      t.test('the replica built from the pages equals GET /api/tasks', async (t) => {
        const live = await liveTasks(app, auth)
        t.equal(live.length, 6)
        t.strictSame(byId(replica.values()), live)

        // The owner-in-path style serves the same feed: a fresh client there converges to the same set,
        // and a token from one style continues in the other.
        const base = `/api/${user}/tasks`
        const fresh = new Map<string, Task>()
        const other = await pullUntil(pull(app, auth, { base, limit: 2 }), undefined, convergesTo(fresh, live))
        applyPage(fresh, other.changes)
        t.strictSame(byId(fresh.values()), live, 'a fresh replica through /api/{user_id}/tasks/changes')
        t.strictSame((await pull(app, auth, { base })(token)).changes, [], 'a /api/tasks token continues on the other style')
        const otherToken = await settledAsIs(t, pull(app, auth, { base }), other.next, fresh, 'nothing new for the fresh replica')
        t.strictSame((await pull(app, auth)(otherToken)).changes, [], 'and the other way round')
      })
    })

    for (const style of STYLES) {
      t.test(`tombstones are only in the feed (${style.name})`, async (t) => {
        const user = uniqueUser('owner')
        const intruder = uniqueUser('intruder')
        const auth = bearer(user)
        const base = style.base(user)
        const create = (body: object) => send(app, auth, 'POST', base, body)
        const a = await create({ title: 'to delete' })
        const b = await create({ title: 'done 1', completed: true })
        const c = await create({ title: 'done 2', completed: true })
        const d = await create({ title: 'stays' })
        const etagOfA = (await app.inject({ url: `${base}/${a.id}`, headers: auth })).headers.etag as string
        const before = { next: await settled(pull(app, auth, { base }), undefined, new Map()) }

        t.equal((await app.inject({ method: 'DELETE', url: `${base}/${a.id}`, headers: auth })).statusCode, 204)

        /** Every way to address a task by id; all must answer 404 for a tombstone, to its owner and to anyone else. */
        const addressing = (owner: string, headers: Headers, id: string) => {
          const url = `${style.base(owner)}/${id}`
          return [
            { method: 'GET' as const, url, headers },
            { method: 'PUT' as const, url, headers, payload: { title: 'back from the dead' } },
            { method: 'PUT' as const, url, headers: { ...headers, 'if-match': etagOfA }, payload: { title: 'back' } },
            { method: 'PATCH' as const, url: `${url}/complete`, headers, payload: {} },
            { method: 'PATCH' as const, url: `${url}/complete`, headers, payload: { completed: true } },
            { method: 'DELETE' as const, url, headers },
            { method: 'DELETE' as const, url, headers: { ...headers, 'if-match': etagOfA } },
          ]
        }
        for (const [who, requests] of [
          ['owner', addressing(user, auth, a.id)],
          ['another user', addressing(intruder, bearer(intruder), a.id)],
        ] as const) {
          for (const request of requests) {
            const response = await app.inject(request)
            const label = `${who}: ${request.method} ${request.url.replace(a.id, '{deleted}')}${request.headers['if-match'] ? ' with If-Match' : ''}`
            t.equal(response.statusCode, 404, label)
            t.match(response.headers['content-type'], PROBLEM, label)
            t.match(json(response), { status: 404, detail: `Task ${a.id} not found.` }, label)
          }
        }
        const foreignLive = await app.inject({ url: `${style.base(intruder)}/${d.id}`, headers: bearer(intruder) })
        t.equal(foreignLive.statusCode, 403, "another user's live task is still 403: only a deleted one is 404")

        const list = await app.inject({ url: base, headers: auth })
        t.strictSame(ids(byId(json<Task[]>(list))), ids(byId([b, c, d])), 'not listed')
        t.equal(list.headers['x-total-count'], '3', 'not counted')
        const done = await app.inject({ url: `${base}?status=completed`, headers: auth })
        t.equal(done.headers['x-total-count'], '2')
        t.strictSame(await send(app, auth, 'GET', `${base}/stats`), {
          total: 3,
          completed: 2,
          pending: 1,
          overdue: 0,
          by_priority: { low: 0, medium: 1, high: 0 },
        })

        t.strictSame(await send(app, auth, 'DELETE', `${base}?status=completed`), { deleted: 2 }, 'clears the two completed tasks')
        t.strictSame(await send(app, auth, 'DELETE', `${base}?status=completed`), { deleted: 0 }, 'their tombstones are not cleared again')
        for (const cleared of [b, c]) t.equal((await app.inject({ url: `${base}/${cleared.id}`, headers: auth })).statusCode, 404)
        const after = await app.inject({ url: base, headers: auth })
        t.strictSame(ids(json<Task[]>(after)), [d.id])
        t.equal(after.headers['x-total-count'], '1')
        t.match(await send(app, auth, 'GET', `${base}/stats`), { total: 1, completed: 0, pending: 1 })

        // The feed, from before the deletions, has all three as tombstones; `d` was already delivered and has not changed.
        const feed = await pullUntil(pull(app, auth, { base }), before.next, hasAll([a, b, c]))
        t.strictSame(ids(feed.changes), [a.id, ...ids(byId([b, c]))], 'the single delete, then the clearing (one transaction, by id)')
        for (const change of feed.changes) t.strictSame(Object.keys(change).sort(), ['deleted', 'deleted_at', 'id'])
        t.ok(feed.changes.every((change) => isTombstone(change) && RFC3339_MS.test(change.deleted_at)), 'tombstones with RFC 3339 deleted_at')
      })
    }

    t.test('tokens: another user’s, altered, malformed, list cursors and bad limits are 422; unknown parameters too', async (t) => {
      const user = uniqueUser('holder')
      const stranger = uniqueUser('stranger')
      const auth = bearer(user)
      await send(app, auth, 'POST', '/api/tasks', { title: 'one' })
      await send(app, auth, 'POST', '/api/tasks', { title: 'two' })
      const mine = (await pull(app, auth)(undefined)).next
      t.equal((await changesRequest(app, auth, { since: mine })).statusCode, 200, 'my own token is fine')

      const listLink = String((await app.inject({ url: '/api/tasks?limit=1', headers: auth })).headers.link)
      const listCursor = new URL(/<([^>]+)>/.exec(listLink)![1]!, 'http://x').searchParams.get('cursor')!
      // A token in the middle of a pass (a page of one with more to come) holds more than one between passes.
      const midPass = await pull(app, auth, { limit: 1 })(undefined)
      t.equal(midPass.has_more, true)
      t.equal((await changesRequest(app, auth, { since: midPass.next })).statusCode, 200, 'my own mid-pass token is fine')
      const malformed: [string, string][] = [
        ['garbage', 'garbage'],
        ['punctuation', '%%%!!!'],
        ['base64 of {}', base64url('{}')],
        ['base64 of null', base64url('null')],
        ['base64 of []', base64url('[]')],
        ['a list cursor', listCursor],
        ['the empty string', ''],
        ['too long', 'a'.repeat(513)],
      ]
      // Every byte of a token is authenticated: one bit changed anywhere, or a byte cut off, and it is refused.
      for (const [kind, token] of [
        ['a token', mine],
        ['a mid-pass token', midPass.next],
      ] as const) {
        const bytes = Buffer.from(token, 'base64url')
        for (let index = 0; index < bytes.length; index++) {
          const altered = Buffer.from(bytes)
          altered[index]! ^= 0x01
          malformed.push([`${kind} with byte ${index} altered`, altered.toString('base64url')])
        }
        malformed.push([`${kind} cut short by a byte`, bytes.subarray(0, -1).toString('base64url')])
        malformed.push([`${kind} without its first byte`, bytes.subarray(1).toString('base64url')])
        malformed.push([`${kind} with a byte added`, Buffer.concat([bytes, Buffer.of(0)]).toString('base64url')])
      }
      const expect422 = (response: LightMyRequestResponse, path: string, label: string) => {
        t.equal(response.statusCode, 422, label)
        t.match(response.headers['content-type'], PROBLEM, label)
        t.match(json(response), { status: 422, title: 'Unprocessable Entity' }, label)
        t.equal((json(response).errors as { path: string }[] | undefined)?.[0]?.path, path, label)
      }
      for (const [label, since] of malformed) expect422(await changesRequest(app, auth, { since }), '/querystring/since', label)
      expect422(await changesRequest(app, bearer(stranger), { since: mine }), '/querystring/since', "another user's token")
      expect422(await changesRequest(app, bearer(stranger), { since: mine }, `/api/${stranger}/tasks`), '/querystring/since', "another user's token, owner-in-path style")

      for (const limit of ['0', '1001', '-1', '1.5', 'abc', '']) expect422(await changesRequest(app, auth, { limit }), '/querystring/limit', `limit=${limit}`)
      for (const limit of ['1', '1000']) t.equal((await changesRequest(app, auth, { limit })).statusCode, 200, `limit=${limit}`)
      expect422(await changesRequest(app, auth, { foo: '1' }), '/querystring/foo', 'an unknown parameter')
      expect422(await changesRequest(app, auth, { cursor: listCursor }), '/querystring/cursor', "the list's cursor parameter")

      // Opaque: no transaction id (the server-wide write counter) can be read from a token, and the same
      // position gives a different token each time.
      for (const token of [mine, midPass.next]) t.throws(() => JSON.parse(Buffer.from(token, 'base64url').toString('utf8')), 'the token is not JSON')
      const again = (await pull(app, auth)(mine)).next
      t.not(again, (await pull(app, auth)(mine)).next, 'two tokens for the same place differ')

      // A token from before tokens were encrypted (base64url JSON, which cannot be trusted): start again.
      const ownerTag = createHash('sha256').update(user).digest('base64url').slice(0, 16)
      const legacy = base64url(JSON.stringify({ u: ownerTag, x: '1234', i: '0193a1e2-5b7c-7d3e-9f10-2a3b4c5d6e7f', f: '1234', t: Date.now() }))
      const legacyAnswer = await changesRequest(app, auth, { since: legacy })
      t.equal(legacyAnswer.statusCode, 410, 'a pre-encryption token is a 410: sync again from nothing')
      t.match(json(legacyAnswer), { status: 410, detail: /Sync again without `since`/ })

      const foreignPath = await changesRequest(app, bearer(stranger), {}, `/api/${user}/tasks`)
      t.equal(foreignPath.statusCode, 403, "another user's feed by path")
      t.match(foreignPath.headers['content-type'], PROBLEM)
      const anonymous = await changesRequest(app, {}, {})
      t.equal(anonymous.statusCode, 401, 'no token')
    })

    t.test('over real HTTP: a client syncing while another writes ends with the live set', async (t) => {
      const baseUrl = await listen(app)
      const user = uniqueUser('http')
      const auth = bearer(user)

      /** The syncing client uses the owner-in-path style and pages of 3. */
      const httpPull: Pull = async (since) => {
        const url = new URL(`/api/${user}/tasks/changes`, baseUrl)
        url.searchParams.set('limit', '3')
        if (since !== undefined) url.searchParams.set('since', since)
        const response = await fetch(url, { headers: auth })
        if (response.status !== 200) throw new Error(`GET changes answered ${response.status}: ${await response.text()}`)
        return (await response.json()) as ChangesPage
      }
      const write = async (method: string, path: string, body?: object): Promise<Task | undefined> => {
        const init = body === undefined ? { headers: auth } : { headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) }
        const response = await fetch(new URL(path, baseUrl), { method, ...init })
        if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`)
        return response.status === 204 ? undefined : ((await response.json()) as Task)
      }
      const liveOverHttp = async (): Promise<Task[]> => {
        const found: Task[] = []
        for (let url: string | undefined = new URL('/api/tasks?limit=500', baseUrl).href; url !== undefined;) {
          const response: Response = await fetch(url, { headers: auth })
          t.equal(response.status, 200)
          found.push(...((await response.json()) as Task[]))
          const link = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1]
          url = link === undefined ? undefined : new URL(link, baseUrl).href
        }
        return byId(found)
      }

      // A small seeded generator: the same interleaving of operations on every run.
      let seed = 0x5eed
      const random = () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
        return seed / 2 ** 32
      }
      const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!

      let writing = true
      const writer = async () => {
        const live: string[] = []
        let created = 0
        try {
          // A dozen creations spread among updates, completions and deletions: at least 48 writes in all.
          for (let step = 0; created < 12 || step < 48; step++) {
            const roll = random()
            if (created < 12 && (live.length === 0 || roll < 0.35)) {
              live.push((await write('POST', '/api/tasks', { title: `http ${created++}`, tags: [`n${step}`] }))!.id)
            } else if (live.length === 0) {
              continue
            } else if (roll < 0.6) {
              await write('PUT', `/api/tasks/${pick(live)}`, { title: `edited at step ${step}`, priority: pick(['low', 'medium', 'high']) })
            } else if (roll < 0.8 || live.length <= 4) {
              // Deletions stop at four live tasks, so the final comparison is not of two empty sets.
              await write('PATCH', `/api/tasks/${pick(live)}/complete`, {})
            } else {
              const id = pick(live)
              live.splice(live.indexOf(id), 1)
              await write('DELETE', `/api/tasks/${id}`)
            }
          }
        } finally {
          writing = false
        }
        return created
      }

      const replica = new Map<string, Task>()
      let token: string | undefined
      let pulls = 0
      const syncer = async () => {
        while (writing) {
          const page = await httpPull(token)
          pulls++
          // Per page: each task at most once, and only the caller's.
          t.equal(new Set(ids(page.changes)).size, page.changes.length, `page ${pulls}: each task at most once`)
          for (const change of page.changes) if (!isTombstone(change)) t.equal(change.user_id, user)
          applyPage(replica, page.changes)
          token = page.next
          if (!page.has_more) await sleep(2)
        }
      }

      // Settled, not Promise.all: if one side fails, the other still ends before the app closes.
      const [wrote, synced] = await Promise.allSettled([writer(), syncer()])
      if (wrote.status === 'rejected') throw wrote.reason
      if (synced.status === 'rejected') throw synced.reason
      const created = wrote.value
      t.equal(created, 12, 'the writer made a dozen tasks')
      t.ok(pulls > 1, `the syncer pulled while the writer wrote (${pulls} pulls)`)
      const live = await liveOverHttp()
      t.ok(live.length > 0, 'some tasks remain live')
      const final = await pullUntil(httpPull, token, convergesTo(replica, live))
      applyPage(replica, final.changes)
      t.strictSame(byId(replica.values()), live, 'the replica is the live set')
    })
  })
})

t.test('a transaction open in another database of the server holds nothing back', { skip: TEST_DATABASE_URL === undefined && 'needs TEST_DATABASE_URL' }, async (t) => {
  for (const driver of ['node-postgres', 'neon-http'] as const) {
    t.test(driver, async (t) => {
      const app = await buildApp(t, { DATABASE_URL: await databaseUrlFor(t, driver) })
      const auth = bearer(uniqueUser('unheld'))
      /** One whole pass in pages of two, at once: no waiting for anything to show up. */
      const pass = (since: string | undefined) => pullUntil(pull(app, auth, { limit: 2 }), since, () => true)
      const before = await send(app, auth, 'POST', '/api/tasks', { title: 'before' })
      const replica = new Map<string, Task>()
      const token = await settled(pull(app, auth), undefined, replica)

      // Another database's session takes a transaction id and keeps its transaction open: the oldest running
      // transaction on the whole server, the horizon every snapshot's xmin stops at.
      const holder = new pg.Client({ connectionString: TEST_DATABASE_URL })
      await holder.connect()
      t.teardown(() => holder.end())
      await holder.query('begin')
      await holder.query('select pg_current_xact_id()')
      const created: Task[] = []
      for (let i = 0; i < 5; i++) created.push(await send(app, auth, 'POST', '/api/tasks', { title: `while held ${i}` }))
      const live = await liveTasks(app, auth)
      t.strictSame(ids(live), ids(byId([before, ...created])), 'created (201) and listed')

      const fromNothing = await pass(undefined)
      t.strictSame(ids(byId(fromNothing.changes as Task[])), ids(live), 'without `since`: every live task, at once')
      t.strictSame(
        fromNothing.pages.map((page) => [page.changes.length, page.has_more]),
        [
          [2, true],
          [2, true],
          [2, false],
        ],
        'pages of two, has_more until the last'
      )
      const fresh = new Map<string, Task>()
      applyPage(fresh, fromNothing.changes)
      t.strictSame(byId(fresh.values()), live, 'a replica from nothing is the live set')

      const incremental = await pass(token)
      t.ok(hasAll(created)(incremental.changes), 'with `since`: the new tasks, at once')
      t.equal(incremental.pages.at(-1)!.has_more, false)
      applyPage(replica, incremental.changes)
      t.strictSame(byId(replica.values()), live, 'the incremental replica is the live set')

      // More changes while the transaction is still open: each client's next pass has them (and may repeat
      // what its replica holds, harmlessly).
      await send(app, auth, 'PUT', `/api/tasks/${before.id}`, { title: 'before, renamed' })
      await send(app, auth, 'DELETE', `/api/tasks/${created[0]!.id}`)
      const clients = [
        { label: 'incremental', replica, next: incremental.next },
        { label: 'from nothing', replica: fresh, next: fromNothing.next },
      ]
      for (const client of clients) {
        const pulled = await pass(client.next)
        t.ok(hasAll([before, created[0]!])(pulled.changes), `${client.label}: the rename and the deletion, at once`)
        applyPage(client.replica, pulled.changes)
        t.strictSame(byId(client.replica.values()), await liveTasks(app, auth), `${client.label}: still the live set`)
        client.next = pulled.next
      }

      // Once it has ended, both clients settle: a pass brings nothing, and the replicas are the live set.
      await holder.query('commit')
      for (const client of clients) {
        const next = await settled(pull(app, auth), client.next, client.replica)
        t.strictSame(byId(client.replica.values()), await liveTasks(app, auth), `${client.label}: converged`)
        t.strictSame((await pass(next)).changes, [], `${client.label}: nothing more`)
      }
    })
  }
})

t.test('the start refuses a database without its token key', { skip: TEST_DATABASE_URL === undefined && 'needs TEST_DATABASE_URL' }, async (t) => {
  const databaseUrl = await databaseUrlFor(t, 'node-postgres')
  await adminQuery(databaseUrl, "delete from token_keys where purpose = 'tokens'")
  await t.rejects(buildApp(t, { DATABASE_URL: databaseUrl }), /token_keys table has no valid 'tokens' key/)
})

t.test('410 exactly when the purge took a tombstone the token still needs, whatever the clocks say', async (t) => {
  forEachDriver(t, async (t, databaseUrl) => {
    let clockMs = Date.now()
    const app = await buildApp(t, { DATABASE_URL: databaseUrl, SYNC_RETENTION: '1 day' }, { now: () => new Date(clockMs) })
    /** The purge's watermark: the highest feed position it has deleted. */
    const watermark = async () =>
      (await app.db.orm.select({ xid: feedWatermark.purged_xid, id: feedWatermark.purged_id }).from(feedWatermark))[0]!
    const positionOf = async (id: string) =>
      (await app.db.orm.select({ xid: tasks.change_xid, id: tasks.id }).from(tasks).where(eq(tasks.id, id)))[0]!
    const atOrAfter = (a: { xid: bigint; id: string }, b: { xid: bigint; id: string }) => a.xid > b.xid || (a.xid === b.xid && a.id >= b.id)
    const expect410 = (response: LightMyRequestResponse, label: string) => {
      t.equal(response.statusCode, 410, label)
      t.match(response.headers['content-type'], PROBLEM, label)
      t.match(json(response), { type: 'about:blank', title: 'Gone', status: 410, detail: /Sync again without `since`/ }, label)
    }
    /** A sync from nothing converges to the live tasks, and its token is good. */
    const freshSyncConverges = async (auth: Headers) => {
      const live = await liveTasks(app, auth)
      const replica = new Map<string, Task>()
      const fresh = await pullUntil(pull(app, auth), undefined, convergesTo(replica, live))
      t.notOk(fresh.changes.some(isTombstone), 'a fresh sync has no tombstones')
      applyPage(replica, fresh.changes)
      t.strictSame(byId(replica.values()), live, 'a sync without `since` starts over and converges')
      t.equal((await changesRequest(app, auth, { since: fresh.next })).statusCode, 200, 'and its token is good')
    }

    t.test('a slow client paging a backlog older than SYNC_RETENTION is not refused while nothing is purged', async (t) => {
      const auth = bearer(uniqueUser('slow'))
      const replica = new Map<string, Task>()
      await send(app, auth, 'POST', '/api/tasks', { title: 'seen' })
      let next = await settled(pull(app, auth), undefined, replica)
      const backlog: Task[] = []
      for (let i = 0; i < 6; i++) backlog.push(await send(app, auth, 'POST', '/api/tasks', { title: `backlog ${i}` }))
      for (const gone of backlog.slice(0, 2)) await send(app, auth, 'DELETE', `/api/tasks/${gone.id}`)

      // The client comes back 23 hours later, and takes 12 hours over each page of two.
      clockMs += 23 * HOUR
      const pulled: Change[] = []
      for (let pages = 0; !hasAll(backlog)(pulled) && pages < 50; pages++) {
        const response = await changesRequest(app, auth, { since: next, limit: '2' })
        t.equal(response.statusCode, 200, `a page at ${Math.round((clockMs - Date.now()) / HOUR)} h past the changes`)
        if (response.statusCode !== 200) return
        const page = json<ChangesPage>(response)
        pulled.push(...page.changes)
        next = page.next
        clockMs += 12 * HOUR
        if (!page.has_more) await sleep(50)
      }
      applyPage(replica, pulled)
      t.strictSame(byId(replica.values()), await liveTasks(app, auth), 'the backlog, tombstones included, reached the client')
    })

    // One client's tokens, before and after a deletion that the purge then takes.
    const auth = bearer(uniqueUser('purged'))
    const replica = new Map<string, Task>()
    let tokenBefore = ''
    let tokenAfter = ''

    t.test('the purge keeps a tombstone for SYNC_RETENTION, then deletes it and moves the watermark to it', async (t) => {
      const victim = await send(app, auth, 'POST', '/api/tasks', { title: 'victim' })
      await send(app, auth, 'POST', '/api/tasks', { title: 'keeper' })
      tokenBefore = await settled(pull(app, auth), undefined, replica)
      await send(app, auth, 'DELETE', `/api/tasks/${victim.id}`)
      const seen = await pullUntil(pull(app, auth), tokenBefore, hasAll([victim]))
      const tombstone = seen.changes.find((change) => change.id === victim.id) as Tombstone
      t.match(tombstone, { id: victim.id, deleted: true, deleted_at: RFC3339_MS })
      applyPage(replica, seen.changes)
      tokenAfter = await settled(pull(app, auth), seen.next, replica)
      const position = await positionOf(victim.id)

      const deletedAt = Date.parse(tombstone.deleted_at)
      clockMs = deletedAt + DAY - 1000
      // (Tombstones deleted earlier by this file's other clients may go now: only this one is looked at.)
      await app.purgeExpired()
      t.ok(await positionOf(victim.id), 'a second short of SYNC_RETENTION: the tombstone row is still there')
      clockMs = deletedAt + DAY + 1000
      const purged = await app.purgeExpired()
      t.ok(purged.tombstones >= 1, `a second past SYNC_RETENTION: purged (${purged.tombstones})`)
      t.notOk(await positionOf(victim.id), 'the tombstone row is gone')
      t.ok(atOrAfter(await watermark(), position), 'the watermark is at or past the purged tombstone')
      t.equal((await app.purgeExpired()).tombstones, 0, 'a second purge finds nothing')
    })

    t.test('a token behind the watermark gets 410; one past it, and a fresh sync, do not', async (t) => {
      expect410(await changesRequest(app, auth, { since: tokenBefore }), 'the token from before the deletion: it would miss it')
      const after = await changesRequest(app, auth, { since: tokenAfter })
      t.equal(after.statusCode, 200, 'the token that received the deletion is good, a day later')
      t.strictSame(json<ChangesPage>(after).changes, [], 'and nothing follows it')
      await freshSyncConverges(auth)
    })

    t.test('an application clock ahead of the database cannot make a token skip a deletion', async (t) => {
      clockMs = Date.now() + 2 * DAY
      const auth = bearer(uniqueUser('skewed'))
      const replica = new Map<string, Task>()
      const doomed = await send(app, auth, 'POST', '/api/tasks', { title: 'doomed' })
      const token = await settled(pull(app, auth), undefined, replica)
      t.ok(replica.has(doomed.id))
      await send(app, auth, 'DELETE', `/api/tasks/${doomed.id}`)
      // By the application's clock, the deletion is two days old: the purge takes its tombstone at once.
      t.ok((await app.purgeExpired()).tombstones >= 1, 'purged')
      expect410(await changesRequest(app, auth, { since: token }), 'a token issued "now" by that clock, before the deletion')
      await freshSyncConverges(auth)
    })
  })
})
