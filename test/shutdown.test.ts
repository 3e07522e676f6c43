import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { TEST_SECRET, tokenFor } from './support/app.js'
import { databaseUrlFor, TEST_DATABASE_URL } from './support/drivers.js'
import {
  assertDatabaseMatches,
  KeepAliveClient,
  latencies,
  Ledger,
  outcomeKey,
  seededRandom,
  TaskClient,
  type Exchange,
} from './support/load.js'
import { startServer, tempDir, withTimeout, type LogLine } from './support/process.js'

/**
 * Graceful shutdown under load, with the real server process on PostgreSQL: 50 clients, each on its own
 * keep-alive connection, keep writing (and some keep reading large pages) when SIGTERM arrives.
 *
 * "In flight at SIGTERM" is decided by the server's own log, which records every request it accepts
 * ("incoming request", with the client's X-Request-Id) in order with its "stopping" line. Every request the
 * server accepted must be answered in full with a 2xx. A request the client sent before SIGTERM may only fail
 * if the server never accepted it: it was written to an idle keep-alive connection as the server closed it,
 * the race every HTTP/1.1 client must handle. Requests started after SIGTERM may fail at the connection level
 * (refused, reset); they are counted apart. No request may get a 5xx, the process must exit 0 within its 10 s
 * grace, and the database must hold exactly what the acknowledged responses imply.
 *
 * Half the clients stop sending when SIGTERM is sent but keep their connection open, as a browser or an SDK
 * keeps its idle connections: the server must still be able to finish and exit. The other half keep going
 * until their first failure.
 */

const withPostgres = { skip: TEST_DATABASE_URL === undefined && 'TEST_DATABASE_URL is not set' }

const CLIENTS = 50
/** Clients 0..READERS-1 page through a user with many large tasks: each request takes a while to serve. */
const READERS = 6
const HEAVY_TASKS = 300
const GRACE_MS = 10_000
const SEED = Number(process.env.LOAD_SEED ?? Math.floor(Math.random() * 2 ** 32))

/** Re-reads a list of HEAVY_TASKS large tasks (~0.4 MB of JSON) in one page: slow enough to be in flight at SIGTERM. */
class ReaderClient {
  private sequence = 0

  constructor (
    readonly index: number,
    readonly http: KeepAliveClient,
    private readonly ledger: Ledger
  ) {}

  async step (): Promise<Exchange> {
    const requestId = `c${this.index}-${++this.sequence}`
    const path = '/api/tasks?limit=500'
    const startedAt = performance.now()
    const outcome = await this.http.send('GET', path, undefined, requestId)
    const exchange: Exchange = { client: this.index, requestId, operation: 'list', method: 'GET', path, startedAt, endedAt: performance.now(), outcome, acknowledged: false }
    if (outcome.kind === 'response' && outcome.status === 200) {
      exchange.acknowledged = true
      const count = Array.isArray(outcome.body) ? outcome.body.length : -1
      if (count !== HEAVY_TASKS || outcome.headers['x-total-count'] !== String(HEAVY_TASKS)) {
        this.ledger.disagreements.push(`${requestId} GET ${path}: ${count} tasks, X-Total-Count ${outcome.headers['x-total-count']}`)
      }
    }
    this.ledger.exchanges.push(exchange)
    return exchange
  }
}

/** The server's log, reduced to what it says about each request id, in the order it wrote it. */
function readServerLog (lines: LogLine[]) {
  const stopping = lines.findIndex((line) => line.msg === 'stopping: finishing in-flight requests')
  const accepted = new Map<string, number>()
  const completed = new Map<string, number>()
  const refused = new Set<string>()
  lines.forEach((line, index) => {
    if (typeof line.reqId !== 'string') return
    if (line.msg === 'incoming request') accepted.set(line.reqId, index)
    else if (line.msg === 'request completed') completed.set(line.reqId, index)
    else if (typeof line.msg === 'string' && line.msg.startsWith('request aborted')) refused.add(line.reqId)
  })
  return { stopping, accepted, completed, refused }
}

t.test('SIGTERM under load on PostgreSQL: in-flight requests finish, nothing acknowledged is lost, exit 0', withPostgres, async (t) => {
  t.comment(`seed ${SEED} (LOAD_SEED=${SEED} repeats the choices)`)
  const databaseUrl = await databaseUrlFor(t, 'node-postgres')
  const server = await startServer(t, {
    cwd: await tempDir(t),
    // info: the request log is what tells which requests the server had accepted before it began stopping.
    env: { NODE_ENV: 'production', DATABASE_URL: databaseUrl, BETTER_AUTH_SECRET: TEST_SECRET, RATE_LIMIT_MAX: '0', LOG_LEVEL: 'info' },
  })
  const token = (user: string) => tokenFor(user, {}, { expiresIn: 600_000 })

  // The readers' user: HEAVY_TASKS tasks with the longest description and the most tags a task may have.
  const seeders = Array.from({ length: 10 }, () => new KeepAliveClient(server.port, token('heavy')))
  const tags = Array.from({ length: 20 }, (_, index) => `tag-number-${index}`)
  const seeded: string[] = []
  for (let batch = 0; batch < HEAVY_TASKS; batch += seeders.length) {
    const outcomes = await Promise.all(
      seeders.map((seeder, index) => seeder.send('POST', '/api/tasks', { title: `heavy ${batch + index}`, description: 'd'.repeat(1000), tags }, `seed-${batch + index}`))
    )
    seeded.push(...outcomes.map(outcomeKey))
  }
  seeders.forEach((seeder) => seeder.close())
  t.same(seeded, Array(HEAVY_TASKS).fill('201'), `${HEAVY_TASKS} large tasks seeded for the readers`)

  const ledger = new Ledger()
  const random = seededRandom(SEED)
  const writerUsers: string[] = []
  const clients = Array.from({ length: CLIENTS }, (_, index) => {
    if (index < READERS) return new ReaderClient(index, new KeepAliveClient(server.port, token('heavy')), ledger)
    const user = `shutdown-user-${index}`
    writerUsers.push(user)
    return new TaskClient(index, user, new KeepAliveClient(server.port, token(user)), ledger, seededRandom(Math.floor(random() * 2 ** 32)))
  })
  t.teardown(() => clients.forEach((client) => client.http.close()))
  const quiet = (index: number) => index % 2 === 1

  let killAt = Infinity
  let exited = false
  const acknowledged = new Array<number>(CLIENTS).fill(0)
  const loops = clients.map(async (client) => {
    for (;;) {
      if (exited || performance.now() > killAt + GRACE_MS + 2000) return
      if (killAt !== Infinity && quiet(client.index)) return // keeps its connection open, idle
      const exchange = await client.step()
      if (!exchange.acknowledged) return // the first failure ends a client: what it knows is no longer certain
      acknowledged[client.index]!++
    }
  })

  // Load for at least 1.5 s, and until every client has had a few answers.
  const started = performance.now()
  while (performance.now() - started < 1500 || acknowledged.some((count) => count < 3)) {
    if (performance.now() - started > 20_000) break
    await sleep(20)
  }
  t.ok(acknowledged.every((count) => count >= 3), `every client had answers before SIGTERM (fewest: ${Math.min(...acknowledged)})`)

  killAt = performance.now()
  server.child.kill('SIGTERM')
  const exit = await withTimeout(server.exited, GRACE_MS + 5000, 'the server after SIGTERM').catch((error: Error) => error)
  const exitAfter = performance.now() - killAt
  exited = true
  await withTimeout(Promise.all(loops), 5000, 'the clients after the exit')
  clients.forEach((client) => client.http.close())

  const log = readServerLog(server.logs())
  const exchanges = ledger.exchanges
  const describe = (exchange: Exchange) =>
    `${exchange.requestId} ${exchange.method} ${exchange.path} started ${Math.round(exchange.startedAt - killAt)} ms from SIGTERM: ${outcomeKey(exchange.outcome)}`
  const sentBefore = exchanges.filter((exchange) => exchange.startedAt < killAt)
  const sentAfter = exchanges.filter((exchange) => exchange.startedAt >= killAt)
  const acceptedBeforeStopping = (exchange: Exchange) => (log.accepted.get(exchange.requestId) ?? Infinity) < log.stopping
  const inFlight = exchanges.filter(
    (exchange) => acceptedBeforeStopping(exchange) && (log.completed.get(exchange.requestId) ?? Infinity) > log.stopping
  )
  const raced = sentBefore.filter((exchange) => exchange.outcome.kind === 'no-response' && !log.accepted.has(exchange.requestId))

  t.comment(`${exchanges.length} requests; SIGTERM after ${Math.round(killAt - started)} ms; exit ${JSON.stringify(exit)} ${Math.round(exitAfter)} ms after it`)
  t.comment(`in flight at SIGTERM (accepted before "stopping", completed after): ${inFlight.length}, ${inFlight.filter((e) => e.operation === 'list').length} of them large list pages`)
  t.comment(`sent before SIGTERM: ${JSON.stringify(ledger.statusDistribution(sentBefore))}; of the failures, never accepted by the server: ${raced.length}`)
  t.comment(`sent after SIGTERM: ${JSON.stringify(ledger.statusDistribution(sentAfter))}; 503 "refusing … server is closing": ${log.refused.size}`)
  t.comment(`operations: ${JSON.stringify(ledger.operationCounts())}; latency (ms): ${JSON.stringify(latencies(exchanges))}`)

  t.ok(log.stopping >= 0, 'the server logged that it is stopping')
  t.ok(inFlight.length >= 10, `many requests were in flight at SIGTERM (${inFlight.length})`)
  t.ok(inFlight.some((exchange) => exchange.operation === 'list'), 'a large list page among them')

  const acceptedButFailed = exchanges.filter((exchange) => log.accepted.has(exchange.requestId) && !exchange.acknowledged)
  t.equal(acceptedButFailed.length, 0, 'every request the server accepted was answered in full with its 2xx', { sample: acceptedButFailed.slice(0, 10).map(describe) })
  const inFlightFailed = sentBefore.filter((exchange) => !exchange.acknowledged && !raced.includes(exchange))
  t.equal(inFlightFailed.length, 0, 'every request sent before SIGTERM succeeded, unless the server never accepted it', { sample: inFlightFailed.slice(0, 10).map(describe) })
  const serverErrors = exchanges.filter((exchange) => exchange.outcome.kind !== 'no-response' && exchange.outcome.status >= 500)
  t.equal(serverErrors.length, 0, 'no request got a 5xx', { sample: serverErrors.slice(0, 10).map(describe) })
  const otherFailures = sentAfter.filter((exchange) => !exchange.acknowledged && exchange.outcome.kind !== 'no-response' && !serverErrors.includes(exchange))
  t.equal(otherFailures.length, 0, 'a request sent after SIGTERM either succeeds or fails at the connection level', { sample: otherFailures.slice(0, 10).map(describe) })
  t.equal(ledger.disagreements.length, 0, 'every answer agrees with its request and with the last acknowledged state', { sample: ledger.disagreements.slice(0, 10) })

  t.same(exit, { code: 0, signal: null }, 'the process exits with code 0, though half the clients keep an idle keep-alive connection open')
  t.ok(exitAfter < GRACE_MS, `within its ${GRACE_MS} ms grace (${Math.round(exitAfter)} ms)`)
  const errors = server.logs().filter((line) => (line.level ?? 0) >= 50)
  t.same(errors.map((line) => line.msg), [], 'no error logged')
  t.equal(server.stderr(), '', 'nothing on stderr')

  await assertDatabaseMatches(t, databaseUrl, ledger, writerUsers)
})
