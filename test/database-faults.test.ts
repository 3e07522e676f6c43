import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import pg from 'pg'
import { openDatabase, POOL_SIZE } from '../src/db/database.js'
import { databaseTarget } from '../src/db/target.js'
import { bearer, buildApp, json, type TaskJson } from './support/app.js'
import { createPostgresDatabase, TEST_DATABASE_URL } from './support/drivers.js'
import { startNeonStandIn } from './support/neon-stand-in.js'
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js'

/**
 * What a client sees when the database misbehaves (contract §8): an answer within 3 s whatever happens; 503 with
 * Retry-After when nothing reached the database, 504 when a write was sent and its outcome is unknown. A TCP
 * proxy in front of PostgreSQL is cut (refused) or stalled (accepts, never answers); the Neon stand-in reaches
 * PostgreSQL through the same proxy.
 */

const withPostgres = { skip: TEST_DATABASE_URL === undefined && 'TEST_DATABASE_URL is not set' }
const SERVER_DRIVERS = ['node-postgres', 'neon-http'] as const
type ServerDriver = (typeof SERVER_DRIVERS)[number]

/** The contract's limit for the whole answer. */
const ANSWER_LIMIT_MS = 3000

interface ProxiedApp {
  app: FastifyInstance
  proxy: TcpProxy
  /** The database itself, not through the proxy: for the locks and checks of a second session. */
  directUrl: string
  /** Neon only: stops the stand-in, as if Neon's endpoint could not be reached. */
  closeStandIn(): Promise<void>
}

/** A migrated PostgreSQL database behind a TCP proxy, and the app on it through `driver`. */
async function proxiedApp (t: Test, driver: ServerDriver): Promise<ProxiedApp> {
  const directUrl = await createPostgresDatabase(t)
  const migrator = await openDatabase(databaseTarget({ DATABASE_URL: directUrl }), () => {})
  await migrator.migrate()
  await migrator.close()
  const direct = new URL(directUrl)
  const proxy = await startTcpProxy(Number(direct.port || 5432), direct.hostname)
  t.teardown(() => proxy.cut())
  const proxied = new URL(direct)
  proxied.port = String(proxy.port)
  let url = proxied.toString()
  let closeStandIn = async () => {}
  if (driver === 'neon-http') {
    const standIn = await startNeonStandIn(url)
    let closing: Promise<void> | undefined
    closeStandIn = () => (closing ??= standIn.close())
    // The stand-in's pool waits for its statements to end: a stalled proxy is cut first.
    t.teardown(async () => {
      await proxy.cut()
      await closeStandIn()
    })
    url = standIn.connectionString
  }
  const app = await buildApp(t, { DATABASE_URL: url })
  return { app, proxy, directUrl, closeStandIn }
}

interface TimedAnswer {
  request: InjectOptions
  response: LightMyRequestResponse
  /** The whole request, from before it was sent to its last byte. */
  ms: number
}

async function timed (app: FastifyInstance, request: InjectOptions): Promise<TimedAnswer> {
  const started = performance.now()
  const response = await app.inject(request)
  return { request, response, ms: performance.now() - started }
}

const label = ({ request }: TimedAnswer) => `${request.method ?? 'GET'} ${request.url}`

/** A second session on the database, closed when `t` ends. */
async function session (t: Test, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

/** Waits until no other session runs a statement in the database: one still waiting for a lock would run now. */
async function settled (client: pg.Client): Promise<void> {
  const others = `select count(*)::int as n from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid() and state = 'active'`
  while ((await client.query<{ n: number }>(others)).rows[0]!.n > 0) await sleep(20)
}

const OUTCOME_UNKNOWN = /whether it was saved is unknown.*Idempotency-Key/s

for (const driver of SERVER_DRIVERS) {
  t.test(`${driver}: a hanging database answers every request, read or write, within 3 s`, withPostgres, async (t) => {
    const { app, proxy } = await proxiedApp(t, driver)
    const auth = bearer('hanging')
    const task = json<TaskJson>(await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'before' } }))

    proxy.stall()
    // More requests than the pool has connections: some wait for a connection, then for their answer.
    const requests: InjectOptions[] = [
      ...Array.from({ length: 12 }, (): InjectOptions => ({ url: '/api/tasks', headers: auth })),
      ...Array.from({ length: 6 }, (_, i): InjectOptions => ({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title: `during ${i}` } })),
      ...Array.from({ length: 4 }, (): InjectOptions => ({ method: 'PATCH', url: `/api/tasks/${task.id}/complete`, headers: auth })),
      { url: '/ready' },
    ]
    const answers = await Promise.all(requests.map((request) => timed(app, request)))
    for (const answer of answers) {
      const { request, response, ms } = answer
      t.ok(ms <= ANSWER_LIMIT_MS, `${label(answer)}: answered in ${Math.round(ms)} ms`)
      if (request.method === undefined) t.equal(response.statusCode, 503, `${label(answer)}: a read is a 503`)
      else t.ok([503, 504].includes(response.statusCode), `${label(answer)}: a write is a 503 or a 504 (${response.statusCode})`)
      if (response.statusCode === 503) t.ok(response.headers['retry-after'], 'with Retry-After')
      t.match(response.headers['content-type'], /^application\/problem\+json/)
    }

    await proxy.cut()
    await proxy.restore()
    const resumed = await app.inject({ url: '/api/tasks', headers: auth })
    t.equal(resumed.statusCode, 200, 'service resumes by itself')
    t.same(json<TaskJson[]>(resumed).map(({ title, completed }) => ({ title, completed })), [{ title: 'before', completed: false }], 'nothing that hung was written')
  })

  t.test(`${driver}: an unreachable database is a 503 with Retry-After, for reads and writes alike`, withPostgres, async (t) => {
    const { app, proxy, closeStandIn } = await proxiedApp(t, driver)
    const auth = bearer('unreachable')
    t.equal((await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'before' } })).statusCode, 201)

    if (driver === 'neon-http') await closeStandIn()
    else await proxy.cut()
    const requests: InjectOptions[] = [
      { url: '/api/tasks', headers: auth },
      { method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'during the outage' } },
      { url: '/ready' },
    ]
    for (const request of requests) {
      const answer = await timed(app, request)
      const { response, ms } = answer
      t.equal(response.statusCode, 503, `${label(answer)}: nothing reached the database`)
      t.ok(ms <= ANSWER_LIMIT_MS, `answered in ${Math.round(ms)} ms`)
      t.ok(response.headers['retry-after'], 'with Retry-After')
      t.match(response.headers['content-type'], /^application\/problem\+json/)
      t.match(json(response), { status: 503, title: 'Service Unavailable', detail: /database is not answering/ })
      t.notMatch(response.body, /ECONNREFUSED|127\.0\.0\.1|postgres|neon\.tech|fetch/, 'no driver detail')
    }
    t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'liveness does not depend on the database')
    if (driver === 'neon-http') return

    // The cut took the pool's connections with it; a database that then hangs before answering a new
    // connection has been sent nothing either.
    await proxy.restore()
    proxy.stall()
    const write = await timed(app, { method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'never sent' } })
    t.equal(write.response.statusCode, 503, 'a write that never got a connection: 503, not 504')
    t.ok(write.ms <= ANSWER_LIMIT_MS, `answered in ${Math.round(write.ms)} ms`)
    t.ok(write.response.headers['retry-after'], 'with Retry-After')

    await proxy.cut()
    await proxy.restore()
    const resumed = await app.inject({ url: '/api/tasks', headers: auth })
    t.equal(resumed.statusCode, 200, 'service resumes by itself')
    t.same(json<TaskJson[]>(resumed).map((task) => task.title), ['before'])
  })

  t.test(`${driver}: a write sent to a database that stops answering is a 504, its outcome unknown; a read is a 503`, withPostgres, async (t) => {
    const { app, proxy } = await proxiedApp(t, driver)
    const auth = bearer('unanswered')
    const create = (title: string) => app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title } })
    const open = json<TaskJson>(await create('open'))
    const other = json<TaskJson>(await create('other'))
    // Connections in the pool first, so that each write below is sent rather than left waiting for one.
    await Promise.all(Array.from({ length: 6 }, () => app.inject({ url: '/api/tasks', headers: auth })))

    proxy.stall()
    const writes: [string, InjectOptions][] = [
      ['createTask', { method: 'POST', url: '/api/tasks', payload: { title: 'sent, never answered' } }],
      ['updateTask', { method: 'PUT', url: `/api/tasks/${open.id}`, payload: { title: 'changed' } }],
      ['setTaskCompletion', { method: 'PATCH', url: `/api/tasks/${open.id}/complete` }],
      ['deleteTask', { method: 'DELETE', url: `/api/tasks/${other.id}` }],
      ['clearCompletedTasks', { method: 'DELETE', url: '/api/tasks?status=completed' }],
    ]
    const answers = await Promise.all(writes.map(([, request]) => timed(app, { ...request, headers: auth })))
    const document = json<{ paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>> }>(
      await app.inject({ url: '/docs/json' })
    )
    const operations = Object.values(document.paths).flatMap((methods) => Object.values(methods))
    for (const [index, answer] of answers.entries()) {
      const { response, ms } = answer
      t.equal(response.statusCode, 504, `${label(answer)}: its statement was sent`)
      t.ok(ms <= ANSWER_LIMIT_MS, `answered in ${Math.round(ms)} ms`)
      t.match(json(response), { status: 504, title: 'Gateway Timeout', detail: OUTCOME_UNKNOWN })
      t.match(response.headers['content-type'], /^application\/problem\+json/)
      const operationId = writes[index]![0]
      t.ok(operations.find((operation) => operation.operationId === operationId)?.responses['504'], `${operationId} documents its 504`)
    }

    const read = await timed(app, { url: '/api/tasks', headers: auth })
    t.equal(read.response.statusCode, 503, 'a read that gets no answer changed nothing: 503')
    t.ok(read.response.headers['retry-after'], 'with Retry-After')
  })

  t.test(`${driver}: a statement held past the statement timeout is cancelled by PostgreSQL: 503, nothing written`, withPostgres, async (t) => {
    const { app, directUrl } = await proxiedApp(t, driver)
    const auth = bearer('locked-out')
    const task = json<TaskJson>(await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'as it was' } }))
    // Another session holds the row, as a long transaction elsewhere would.
    const other = await session(t, directUrl)
    await other.query('begin')
    await other.query('select 1 from tasks where id = $1 for update', [task.id])

    const answer = await timed(app, { method: 'PUT', url: `/api/tasks/${task.id}`, headers: auth, payload: { title: 'changed while locked' } })
    t.equal(answer.response.statusCode, 503, 'the database gave the statement up: nothing was written')
    t.ok(answer.ms <= ANSWER_LIMIT_MS, `answered in ${Math.round(answer.ms)} ms`)
    t.ok(answer.response.headers['retry-after'], 'with Retry-After')
    t.match(json(answer.response), { status: 503, detail: /gave up.*nothing was changed/ })

    await other.query('rollback')
    await settled(other)
    const after = json<TaskJson>(await app.inject({ url: `/api/tasks/${task.id}`, headers: auth }))
    t.equal(after.title, 'as it was', 'the statement did not commit once the row was free')
  })

  t.test(`${driver}: migrations take as long as they need: a request's deadline does not cut them short`, withPostgres, async (t) => {
    const directUrl = await createPostgresDatabase(t)
    let url = directUrl
    if (driver === 'neon-http') {
      const standIn = await startNeonStandIn(directUrl)
      t.teardown(() => standIn.close())
      url = standIn.connectionString
    }
    const database = await openDatabase(databaseTarget({ DATABASE_URL: url }), () => {})
    t.teardown(() => database.close())
    // Another session holds Drizzle's migrations table, as a long migration elsewhere would.
    const other = await session(t, directUrl)
    await other.query('create schema drizzle')
    await other.query('create table drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)')
    await other.query('begin')
    await other.query('lock table drizzle.__drizzle_migrations in access exclusive mode')

    const migrating = database.migrate()
    migrating.catch(() => {})
    await sleep(ANSWER_LIMIT_MS + 500)
    await other.query('commit')
    await migrating
    t.equal(await database.pendingMigrations(), 0, 'every migration applied once the table was free')
  })
}

t.test('node-postgres: every connection of the pool in use is "busy": 503 with Retry-After within 3 s, then service resumes', withPostgres, async (t) => {
  const { app } = await proxiedApp(t, 'node-postgres')
  const auth = bearer('busy')
  // Each transaction holds one of the pool's connections until `release`; PostgreSQL itself is healthy.
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let holding = 0
  const held = Array.from({ length: POOL_SIZE }, () =>
    app.db.orm.transaction(async () => {
      holding++
      await released
    })
  )
  while (holding < POOL_SIZE) await sleep(10)

  const requests: InjectOptions[] = [
    { url: '/api/tasks', headers: auth },
    { method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'while busy' } },
  ]
  for (const answer of await Promise.all(requests.map((request) => timed(app, request)))) {
    const { response, ms } = answer
    t.equal(response.statusCode, 503, `${label(answer)}: nothing was sent`)
    t.ok(ms <= ANSWER_LIMIT_MS, `answered in ${Math.round(ms)} ms`)
    t.ok(response.headers['retry-after'], 'with Retry-After')
    t.match(json(response), { status: 503, detail: /database is busy/ })
  }

  release()
  await Promise.all(held)
  const resumed = await app.inject({ url: '/api/tasks', headers: auth })
  t.equal(resumed.statusCode, 200, 'served again once a connection is free')
  t.same(json<TaskJson[]>(resumed), [], 'the write refused while busy was not made')
})
