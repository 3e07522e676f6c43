import { performance } from 'node:perf_hooks'
import t from 'tap'
import { TEST_SECRET, tokenFor } from './support/app.js'
import { databaseUrlFor, TEST_DATABASE_URL } from './support/drivers.js'
import { assertDatabaseMatches, KeepAliveClient, latencies, Ledger, seededRandom, TaskClient, type Exchange } from './support/load.js'
import { startServer, tempDir, withTimeout } from './support/process.js'

/**
 * Nothing lost under load: 200 concurrent clients, each on its own keep-alive connection, create, rename,
 * complete, un-complete, toggle, read back and delete their own tasks for LOAD_SECONDS (default 20) against
 * one real server process on PostgreSQL, as in production. Afterwards the database, read directly, must be
 * exactly what the acknowledged responses imply, and no request may have failed.
 *
 * LOAD_SECONDS and LOAD_CLIENTS change the duration and the number of clients; LOAD_SEED repeats a run.
 */

const withPostgres = { skip: TEST_DATABASE_URL === undefined && 'TEST_DATABASE_URL is not set' }

const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 20)
const CLIENTS = Number(process.env.LOAD_CLIENTS ?? 200)
/** Clients per user: several clients of one user run at once, each on tasks of its own. */
const CLIENTS_PER_USER = 5
const SEED = Number(process.env.LOAD_SEED ?? Math.floor(Math.random() * 2 ** 32))

// tap gives a file 120 s; a longer run asked for explicitly gets its duration plus the same margin.
if (LOAD_SECONDS > 60) t.setTimeout((LOAD_SECONDS + 60) * 1000)

t.test(`${CLIENTS} clients for ${LOAD_SECONDS} s on PostgreSQL: every acknowledged write is stored, no request fails`, withPostgres, async (t) => {
  t.ok(Number.isFinite(LOAD_SECONDS) && LOAD_SECONDS > 0, `LOAD_SECONDS is a positive number (${process.env.LOAD_SECONDS ?? 'unset'})`)
  t.comment(`seed ${SEED} (LOAD_SEED=${SEED} repeats the choices)`)
  const databaseUrl = await databaseUrlFor(t, 'node-postgres')
  // LOG_LEVEL=warn: the run asserts that the server logged nothing at warn or above (a lost pool connection, an error).
  const server = await startServer(t, {
    cwd: await tempDir(t),
    env: { NODE_ENV: 'production', DATABASE_URL: databaseUrl, BETTER_AUTH_SECRET: TEST_SECRET, RATE_LIMIT_MAX: '0', LOG_LEVEL: 'warn' },
  })

  const ledger = new Ledger()
  const random = seededRandom(SEED)
  const users = Array.from({ length: Math.ceil(CLIENTS / CLIENTS_PER_USER) }, (_, index) => `load-user-${index}`)
  const tokens = new Map(users.map((user) => [user, tokenFor(user, {}, { expiresIn: (LOAD_SECONDS + 600) * 1000 })]))
  const clients = Array.from({ length: CLIENTS }, (_, index) => {
    const user = users[index % users.length]!
    return new TaskClient(
      index,
      user,
      new KeepAliveClient(server.port, tokens.get(user)!),
      ledger,
      seededRandom(Math.floor(random() * 2 ** 32))
    )
  })
  t.teardown(() => clients.forEach((client) => client.http.close()))

  const started = performance.now()
  const deadline = started + LOAD_SECONDS * 1000
  await withTimeout(
    Promise.all(
      clients.map(async (client) => {
        while (performance.now() < deadline) await client.step()
      })
    ),
    (LOAD_SECONDS + 30) * 1000,
    'the clients'
  )
  const elapsed = (performance.now() - started) / 1000

  const exchanges = ledger.exchanges
  const failed = exchanges.filter((exchange) => !exchange.acknowledged)
  const serverErrors = exchanges.filter((exchange) => exchange.outcome.kind !== 'no-response' && exchange.outcome.status >= 500)
  const connectionErrors = exchanges.filter((exchange) => exchange.outcome.kind !== 'response')
  const describe = (exchange: Exchange) => `${exchange.requestId} ${exchange.method} ${exchange.path}: ${JSON.stringify(exchange.outcome)}`

  t.comment(`${exchanges.length} requests in ${elapsed.toFixed(1)} s: ${Math.round(exchanges.length / elapsed)} requests/s over ${CLIENTS} connections, ${users.length} users`)
  t.comment(`statuses: ${JSON.stringify(ledger.statusDistribution())}`)
  t.comment(`operations: ${JSON.stringify(ledger.operationCounts())}`)
  t.comment(`latency (ms): ${JSON.stringify(latencies(exchanges))}`)

  t.ok(exchanges.length >= CLIENTS * 3, `the load ran (${exchanges.length} requests)`)
  t.equal(serverErrors.length, 0, 'no 5xx', { sample: serverErrors.slice(0, 10).map(describe) })
  t.equal(connectionErrors.length, 0, 'no connection refused, reset or cut off', { sample: connectionErrors.slice(0, 10).map(describe) })
  t.equal(failed.length, 0, 'every request got the success it expects (201, 200 or 204)', { sample: failed.slice(0, 10).map(describe) })
  t.equal(ledger.disagreements.length, 0, 'every answer agrees with its request and with the last acknowledged state', { sample: ledger.disagreements.slice(0, 10) })
  for (const operation of ['create', 'update', 'complete', 'toggle', 'read', 'delete'] as const) {
    t.ok(exchanges.some((exchange) => exchange.operation === operation && exchange.acknowledged), `some ${operation} was acknowledged`)
  }

  await assertDatabaseMatches(t, databaseUrl, ledger, users)

  const warnings = server.logs().filter((line) => (line.level ?? 0) >= 40)
  t.same(warnings, [], 'the server logged no warning or error')
  t.equal(server.stderr(), '', 'nothing on stderr')

  clients.forEach((client) => client.http.close())
  t.same(await server.stop(), { code: 0, signal: null }, 'the server still stops cleanly')
})
