import t from 'tap'
import fc from 'fast-check'
import pg from 'pg'
import { drizzle } from 'drizzle-orm/node-postgres'
import type { FastifyInstance } from 'fastify'
import type { Orm } from '../src/db/database.js'
import { TaskRepository } from '../src/repositories/tasks.js'
import { bearer, buildApp, json, type TaskJson } from './support/app.js'
import { databaseUrlFor, TEST_DATABASE_URL } from './support/drivers.js'

/**
 * Contract §9's guarantee on real PostgreSQL, where writers commit concurrently and out of order: a client
 * that starts from nothing and applies every page ends with exactly the server's live tasks.
 */

interface ChangesPage {
  changes: (TaskJson | { id: string; deleted: true; deleted_at: string })[]
  next: string
  has_more: boolean
}

/** A client's copy of its tasks, kept by applying pages of the change feed in order. */
class Replica {
  readonly tasks = new Map<string, TaskJson>()
  since: string | undefined
  /** How many times a 410 made it start again. */
  restarts = 0

  constructor (
    private readonly app: FastifyInstance,
    private readonly headers: Record<string, string>
  ) {}

  /** One page; returns whether more are ready now. */
  async pull (limit: number): Promise<boolean> {
    const query = new URLSearchParams({ limit: String(limit), ...(this.since !== undefined && { since: this.since }) })
    const response = await this.app.inject({ url: `/api/tasks/changes?${query}`, headers: this.headers })
    if (response.statusCode === 410) {
      // A tombstone this replica needed was purged: start again from nothing, as the sync loop in docs/sync.md does.
      this.restarts++
      this.tasks.clear()
      this.since = undefined
      return true
    }
    if (response.statusCode !== 200) throw new Error(`changes answered ${response.statusCode}: ${response.body}`)
    const page = json<ChangesPage>(response)
    for (const change of page.changes) {
      if ('deleted' in change) this.tasks.delete(change.id)
      else this.tasks.set(change.id, change)
    }
    this.since = page.next
    return page.has_more
  }

  async catchUp (limit: number): Promise<void> {
    while (await this.pull(limit));
  }
}

/** The server's live tasks, as GET /api/tasks pages them. */
async function liveTasks (app: FastifyInstance, headers: Record<string, string>): Promise<Map<string, TaskJson>> {
  const found = new Map<string, TaskJson>()
  let url: string | undefined = '/api/tasks?limit=500'
  while (url !== undefined) {
    const response: Awaited<ReturnType<FastifyInstance['inject']>> = await app.inject({ url, headers })
    for (const task of json<TaskJson[]>(response)) found.set(task.id, task)
    url = (response.headers.link as string | undefined)?.match(/^<([^>]+)>/)?.[1]
  }
  return found
}

const DAY = 24 * 60 * 60 * 1000

const sorted = (tasks: Map<string, TaskJson>) => [...tasks.values()].sort((a, b) => a.id.localeCompare(b.id))

/**
 * Catches the replica up and compares. A change that commits behind the position a client has read up to
 * reaches it on a later pass: pull again for a while before calling a difference a failure. A change the feed
 * skipped would never arrive.
 */
async function converges (replica: Replica, app: FastifyInstance, headers: Record<string, string>, limit: number): Promise<boolean> {
  const expected = JSON.stringify(sorted(await liveTasks(app, headers)))
  for (const deadline = Date.now() + 10_000; ;) {
    await replica.catchUp(limit)
    if (JSON.stringify(sorted(replica.tasks)) === expected) return true
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

type Operation =
  | { kind: 'create'; title: string }
  | { kind: 'update'; pick: number; title: string }
  | { kind: 'complete'; pick: number }
  /** Then, maybe, the background purge at once: the clock (see below) makes every tombstone expired. */
  | { kind: 'delete'; pick: number; thenPurge: boolean }
  /** An update whose transaction stays open a while after writing: it commits after later writers. */
  | { kind: 'slow update'; pick: number; title: string; holdMs: number }

const title = fc.string({ minLength: 1, maxLength: 12, unit: fc.constantFrom(...'abcdefghij') })
const pick = fc.nat({ max: 50 })
const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('create' as const), title }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('update' as const), pick, title }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('complete' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick, thenPurge: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('slow update' as const), pick, title, holdMs: fc.integer({ min: 1, max: 40 }) }) }
)

/** Runs the repository's own update in a transaction that stays open `holdMs` after the write. */
async function slowUpdate (client: pg.Client, user: string, id: string, title: string, holdMs: number): Promise<void> {
  await drizzle({ client }).transaction(async (transaction) => {
    await new TaskRepository(transaction as unknown as Orm).update(user, id, { title })
    await new Promise((resolve) => setTimeout(resolve, holdMs))
  })
}

t.test('convergence on PostgreSQL', { skip: TEST_DATABASE_URL === undefined && 'needs TEST_DATABASE_URL' }, async (t) => {
  const databaseUrl = await databaseUrlFor(t, 'node-postgres')
  // The application's clock runs two days ahead of the database's, and tombstones are kept one day by it: the
  // purge takes every tombstone as soon as it is made. Replicas that needed one must be told (410), never miss it.
  const app = await buildApp(t, { DATABASE_URL: databaseUrl, SYNC_RETENTION: '1 day' }, { now: () => new Date(Date.now() + 2 * DAY) })
  let run = 0
  // A connection per writer, for the slow updates.
  const connections = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const client = new pg.Client({ connectionString: databaseUrl })
      await client.connect()
      t.teardown(() => client.end())
      return client
    })
  )

  t.test('random concurrent writers and a client pulling random pages: the replica ends equal to the live tasks', async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(operation, { minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 8 }),
        async (writers, pageSizes) => {
          // A user per run: every run starts from an empty account on the same database.
          const user = `convergence-${run++}`
          const headers = bearer(user)
          const ids: string[] = []
          const apply = async (operation: Operation, connection: pg.Client) => {
            const id = ids.length === 0 ? undefined : ids[('pick' in operation ? operation.pick : 0) % ids.length]
            if (operation.kind === 'create') {
              const response = await app.inject({ method: 'POST', url: '/api/tasks', headers, payload: { title: operation.title } })
              if (response.statusCode !== 201) throw new Error(`create answered ${response.statusCode}: ${response.body}`)
              ids.push(json<TaskJson>(response).id)
            } else if (operation.kind === 'slow update' && id !== undefined) {
              await slowUpdate(connection, user, id, operation.title, operation.holdMs)
            } else if (operation.kind !== 'slow update' && id !== undefined) {
              const write = {
                update: { method: 'PUT' as const, url: `/api/tasks/${id}`, payload: { title: (operation as { title?: string }).title } },
                complete: { method: 'PATCH' as const, url: `/api/tasks/${id}/complete` },
                delete: { method: 'DELETE' as const, url: `/api/tasks/${id}` },
              }[operation.kind]
              // A write to a task another writer deleted is a 404; the replica must agree it is gone.
              const response = await app.inject({ ...write, headers })
              if (![200, 204, 404].includes(response.statusCode)) throw new Error(`${write.method} answered ${response.statusCode}: ${response.body}`)
              if (operation.kind === 'delete' && operation.thenPurge) await app.purgeExpired()
            }
          }
          const replica = new Replica(app, headers)
          let writing = true
          const writes = Promise.all(
            writers.map(async (operations, writer) => {
              for (const operation of operations) await apply(operation, connections[writer]!)
            })
          ).finally(() => {
            writing = false
          })
          // The client pulls while the writers write, with page sizes from the property's choice.
          for (let page = 0; writing; page++) await replica.pull(pageSizes[page % pageSizes.length]!)
          await writes
          return converges(replica, app, headers, pageSizes[0]!)
        }
      ),
      // A failing run already took its 10 s of retries; shrinking would repeat that for every smaller case.
      { numRuns: Number(process.env.CONVERGENCE_RUNS ?? 30), endOnFailure: true }
    )
    t.pass('every run converged')
  })

  t.test('a writer that commits late, after a later writer: its change still reaches the client', async (t) => {
    const user = 'late-writer'
    const headers = bearer(user)
    const create = async (name: string) => json<TaskJson>(await app.inject({ method: 'POST', url: '/api/tasks', headers, payload: { title: name } }))
    const slow = await create('slow')
    const fast = await create('fast')
    const replica = new Replica(app, headers)
    await replica.catchUp(10)
    t.equal(replica.tasks.size, 2)

    // The repository's own update, in a transaction held open: it takes its transaction id now, commits later.
    const client = new pg.Client({ connectionString: databaseUrl })
    await client.connect()
    t.teardown(() => client.end())
    let release!: () => void
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    let written!: () => void
    const wrote = new Promise<void>((resolve) => {
      written = resolve
    })
    const held = drizzle({ client }).transaction(async (transaction) => {
      await new TaskRepository(transaction as unknown as Orm).update(user, slow.id, { title: 'slow, renamed' })
      written()
      await released
    })
    // The held transaction has taken its id and written before the later writer starts.
    await wrote

    const put = await app.inject({ method: 'PUT', url: `/api/tasks/${fast.id}`, headers, payload: { title: 'fast, renamed' } })
    t.equal(put.statusCode, 200, 'the later writer commits first')
    await replica.catchUp(10)
    t.equal(replica.tasks.get(fast.id)?.title, 'fast, renamed', 'the later commit reaches the client at once, while the earlier writer runs')
    t.equal(replica.tasks.get(slow.id)?.title, 'slow', 'the earlier writer’s change is not visible yet')

    // What a naive `revision > N` feed would have done: read the later commit and move past the slow writer.
    const naive = new pg.Client({ connectionString: databaseUrl })
    await naive.connect()
    t.teardown(() => naive.end())
    const seen = await naive.query('select id, change_xid from tasks where user_id = $1 order by change_xid', [user])
    const naiveMark = BigInt(seen.rows.at(-1).change_xid)

    release()
    await held
    const afterCommit = await naive.query('select id from tasks where user_id = $1 and change_xid > $2', [user, naiveMark.toString()])
    t.same(afterCommit.rows, [], 'a naive feed, past the later commit, would never send the slow writer’s change')

    t.ok(await converges(replica, app, headers, 10), 'this feed sends it once it commits, though the client has read past its position')
    t.equal(replica.tasks.get(slow.id)?.title, 'slow, renamed')
    t.equal(replica.tasks.get(fast.id)?.title, 'fast, renamed')
  })

  t.test('a deletion that commits late is purged behind the watermark, which never moves back; a token behind it gets 410', async (t) => {
    const user = 'late-deletion'
    const headers = bearer(user)
    const create = async (name: string) => json<TaskJson>(await app.inject({ method: 'POST', url: '/api/tasks', headers, payload: { title: name } }))
    const early = await create('early')
    const late = await create('late')
    const replica = new Replica(app, headers)
    t.ok(await converges(replica, app, headers, 10))
    const token = replica.since!

    const reader = new pg.Client({ connectionString: databaseUrl })
    await reader.connect()
    t.teardown(() => reader.end())
    const watermark = async () => (await reader.query('select purged_xid, purged_id from feed_watermark')).rows[0] as { purged_xid: string; purged_id: string }

    // The repository's own delete, in a transaction held open: it takes its transaction id now, commits later.
    const client = new pg.Client({ connectionString: databaseUrl })
    await client.connect()
    t.teardown(() => client.end())
    let release!: () => void
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    let written!: () => void
    const wrote = new Promise<void>((resolve) => {
      written = resolve
    })
    const held = drizzle({ client }).transaction(async (transaction) => {
      await new TaskRepository(transaction as unknown as Orm).delete(user, early.id)
      written()
      await released
    })
    await wrote
    t.equal((await app.inject({ method: 'DELETE', url: `/api/tasks/${late.id}`, headers })).statusCode, 204, 'the later deletion commits first')
    const latePosition = (await reader.query('select change_xid from tasks where id = $1', [late.id])).rows[0].change_xid as string

    await app.purgeExpired()
    const first = await watermark()
    t.same(first, { purged_xid: latePosition, purged_id: late.id }, 'the purge took the committed tombstone and moved the watermark to it')
    release()
    await held
    await app.purgeExpired()
    t.same((await reader.query('select id from tasks where id = any($1)', [[early.id, late.id]])).rows, [], 'the late deletion’s tombstone went too')
    t.same(await watermark(), first, 'and the watermark, already past it, stayed')

    const stale = await app.inject({ url: `/api/tasks/changes?since=${token}`, headers })
    t.equal(stale.statusCode, 410, 'the replica saw neither deletion: it must start again')
    t.ok(await converges(replica, app, headers, 10))
    t.same([...replica.tasks.keys()], [])
  })
})
