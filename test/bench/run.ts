/**
 * `npm run bench`: the API against a hand-written ceiling (ceiling.ts), side by side in one run, on a freshly
 * seeded PostgreSQL database, then on PGlite. See settings.ts for what the environment can change, and
 * results/bench.md for the last run's figures.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import type { Orm } from '../../src/db/database.js'
import { buildIfStale } from '../support/build.js'
import { cpuBetween, postgresCpu, processCpu, settle } from './cpu.js'
import { createPgliteFolders, createPostgresDatabase } from './databases.js'
import { drive, medianRun, type Measurement } from './load.js'
import { API_SCRIPT, CEILING_SCRIPT, startService, type Service } from './processes.js'
import { checksText, compare, consoleTable, writeReport, type Check, type Comparison, type Report } from './report.js'
import { CREATED_TAG, scenario, SCENARIOS, type BenchUser, type Scenario } from './scenarios.js'
import { BIG_USER, fillTo, insertTasks, rowsOf, seed, USER_PREFIX, vacuum } from './seed.js'
import { loadSettings, type Settings } from './settings.js'
import { hs256Tokens, startJwksIssuer, type JwksIssuer } from './tokens.js'
import { checkParity, checkSql } from './verify.js'

const log = (line = '') => console.log(line)

/** What Ctrl-C must still undo: the servers started and the database created so far. */
const onInterrupt = new Set<() => Promise<void>>()
process.once('SIGINT', () => {
  log('\nInterrupted: stopping the servers and dropping the database…')
  void Promise.allSettled([...onInterrupt].map((undo) => undo())).then(() => process.exit(130))
})

/** The API and its ceiling, each a running process, and the PostgreSQL database they share (none on PGlite). */
interface Systems {
  api: Service
  ceiling: Service
  database?: string
}

type System = 'api' | 'ceiling'

/** What a measured run of one system may need first (the writes put the database back as seeded). */
type Prepare = () => Promise<void>

class Bench {
  readonly comparisons: Comparison[] = []
  readonly notes: string[] = []
  /** Requests each service answered, warm-ups included: what its CPU profile covers. */
  readonly served = new Map<Service, number>()

  constructor (readonly settings: Settings) {}

  /** Starts one of the systems, profiled when BENCH_PROFILE is set. */
  start (name: string, script: string, options: { cwd?: string; env: Record<string, string> }): Promise<Service> {
    const folder = join(this.settings.resultsDir, 'profiles', name.replace(/\W+/g, '-').replace(/-$/, '').toLowerCase())
    const nodeArgs = this.settings.profile ? ['--cpu-prof', `--cpu-prof-dir=${folder}`] : []
    return startService(name, script, { ...options, nodeArgs })
  }

  /** Stops the services, and says where their profiles are. */
  async stop (services: Service[]): Promise<void> {
    for (const service of services) {
      await service.stop()
      if (this.settings.profile && this.served.has(service)) {
        log(`  ${service.name} served ${this.served.get(service)} requests; its profile: node --import tsx test/bench/profile-summary.ts <file> ${this.served.get(service)}`)
      }
    }
  }

  /**
   * Measures one scenario on both systems at one connection count: per round, each system gets a warm-up and
   * a measured run, the order alternating from round to round, each starting once the previous run's backlog
   * is worked off. Requests number on across the warm-up and the run, so a write never hits the same task
   * twice while there are fresh ones.
   */
  async compare (
    phase: string,
    systems: Systems,
    name: string,
    scenario: Scenario,
    users: BenchUser[],
    connections: number,
    prepare?: Prepare
  ): Promise<Comparison> {
    const runs: Record<System, Measurement[]> = { api: [], ceiling: [] }
    const { seconds, warmupSeconds, rounds } = this.settings
    for (let round = 0; round < rounds; round++) {
      const order: System[] = round % 2 === 0 ? ['api', 'ceiling'] : ['ceiling', 'api']
      for (const system of order) {
        const service = systems[system]
        const quiet = () => settle(service.child.pid, systems.database)
        await prepare?.()
        const load = this.load(service, scenario, users, connections)
        await quiet()
        if (warmupSeconds > 0) {
          await load(warmupSeconds)
          await quiet()
        }
        const measured = await withCpu(service, systems.database, () => load(seconds))
        runs[system].push(measured)
        log(`  ${phase} ${name} ×${connections} ${system}: ${summary(measured)}`)
      }
    }
    const comparison = compare(phase, name, scenario.request, runs.api, runs.ceiling, medianRun)
    this.comparisons.push(comparison)
    return comparison
  }

  /**
   * Every scenario once on each system, unmeasured, so that no scenario is measured while the JIT is still
   * compiling the code paths the others share; `prepare` then puts the written tasks back.
   */
  async warmUp (systems: Systems, scenarios: Scenario[], users: BenchUser[], prepare: Prepare): Promise<void> {
    const seconds = Math.max(1, this.settings.warmupSeconds)
    log(`  warming up: ${scenarios.length} scenario(s) × ${seconds} s on each system`)
    for (const scenario of scenarios) {
      for (const service of [systems.api, systems.ceiling]) {
        await this.load(service, scenario, users, this.settings.connections[0]!)(seconds)
        await settle(service.child.pid, systems.database)
      }
    }
    await prepare()
  }

  /** Drives `service` with `scenario` for the given seconds per call, the requests numbered on from call to call. */
  private load (service: Service, scenario: Scenario, users: BenchUser[], connections: number): (seconds: number) => Promise<Measurement> {
    let n = 0
    return async (seconds) => {
      const { timeoutSeconds } = this.settings
      const measured = await drive({ url: service.url, connections, seconds, timeoutSeconds, next: () => scenario.build(users, n++) })
      this.served.set(service, (this.served.get(service) ?? 0) + measured.requests)
      return measured
    }
  }

  wanted (name: string): boolean {
    return this.settings.only === undefined || this.settings.only.includes(name)
  }

  find (phase: string, name: string, connections: number): Comparison | undefined {
    return this.comparisons.find((row) => row.phase === phase && row.scenario === name && row.connections === connections)
  }
}

/** The run, with the CPU time its server process and its database's PostgreSQL processes spent per request. */
async function withCpu (service: Service, database: string | undefined, run: () => Promise<Measurement>): Promise<Measurement> {
  const before = { server: processCpu(service.child.pid), database: postgresCpu(database) }
  const measured = await run()
  const after = { server: processCpu(service.child.pid), database: postgresCpu(database) }
  const perRequest = (seconds: number | undefined) =>
    (seconds === undefined || measured.requests === 0 ? undefined : (seconds * 1e6) / measured.requests)
  const server = before.server === undefined || after.server === undefined ? undefined : after.server - before.server
  return { ...measured, cpu: { serverMicros: perRequest(server), databaseMicros: perRequest(cpuBetween(before.database, after.database)) } }
}

function summary (m: Measurement): string {
  const failures = m.errors + m.non2xx > 0 ? `  errors ${m.errors} (timeouts ${m.timeouts}), non-2xx ${m.non2xx} ${JSON.stringify(m.statusCodes)}` : ''
  const micros = (value: number | undefined) => (value === undefined ? '?' : Math.round(value))
  const cpu = m.cpu === undefined ? '' : `, CPU/req server ${micros(m.cpu.serverMicros)} µs, db ${micros(m.cpu.databaseMicros)} µs`
  return `${Math.round(m.requestsPerSecond)} req/s, p50 ${m.latency.p50} ms, p99 ${m.latency.p99} ms${cpu}${failures}`
}

// ---------------------------------------------------------------------------------------------- PostgreSQL

async function postgresPhase (bench: Bench, secret: string, issuer: JwksIssuer): Promise<void> {
  const { settings } = bench
  log(`PostgreSQL: seeding ${settings.users.toLocaleString('en')} users × ${settings.tasksPerUser} tasks and one user with ${settings.bigUserTasks.toLocaleString('en')}…`)
  const started = Date.now()
  const database = await createPostgresDatabase(settings.adminUrl, settings.keepDatabase)
  const services: Service[] = []
  const undo = async () => {
    await bench.stop(services)
    await database.drop()
  }
  onInterrupt.add(undo)
  try {
    await seed(database.orm, settings)
    // The tasks `complete` works on, so the reset before each run can make them pending again.
    await database.orm.execute(sql`create table bench_pending as select id from tasks where not completed and user_id like ${`${USER_PREFIX}%`}`)
    log(`  database ${database.name} seeded in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    const users = await benchUsers(database.orm, secret)
    const [bigUser] = await benchUsers(database.orm, secret, BIG_USER)
    const eddsaUsers = withTokens(users, await issuer.tokens(users.map((user) => user.id)))

    const env = { DATABASE_URL: database.url, BETTER_AUTH_SECRET: secret, BETTER_AUTH_URL: issuer.baseURL }
    const tracing = await startService('API (trace)', API_SCRIPT, { env: { ...apiEnv(env), LOG_LEVEL: 'trace' } })
    services.push(tracing)
    report('SQL check', await checkSql(tracing, users[0]!, SCENARIOS), bench)
    await tracing.stop()

    const systems = {
      api: await bench.start('API (postgres)', API_SCRIPT, { env: apiEnv(env) }),
      ceiling: await bench.start('ceiling (postgres)', CEILING_SCRIPT, { env: { ...env, CEILING_DRIVER: 'pg' } }),
      database: database.name,
    }
    services.push(systems.api, systems.ceiling)
    report('Parity check', await checkParity(systems.api, systems.ceiling, users, SCENARIOS), bench)
    if (bench.wanted('list-eddsa')) report('Parity check (EdDSA tokens)', await checkParity(systems.api, systems.ceiling, eddsaUsers, [scenario('list')]), bench)
    const resetWrites = () => resetWrittenTasks(database.orm)
    await bench.warmUp(systems, SCENARIOS.filter((candidate) => bench.wanted(candidate.name)), users, resetWrites)

    await measureReads(bench, systems, users, eddsaUsers)
    if (bench.wanted('list-eddsa')) bench.notes.push(`JWKS requests served during the run: ${issuer.requests()} (the API and the ceiling each fetch once).`)
    if (bench.wanted('list-user-size')) await userSizeRuns(bench, 'postgres', systems, users[0]!, bigUser!)
    for (const scenario of SCENARIOS.filter((candidate) => candidate.kind === 'write' && bench.wanted(candidate.name))) {
      for (const connections of settings.connections) await bench.compare('postgres', systems, scenario.name, scenario, users, connections, resetWrites)
    }
    await resetWrites()

    if (settings.bigTable) {
      log(`PostgreSQL: growing the table to ${settings.bigTableTasks.toLocaleString('en')} tasks…`)
      await fillTo(database.orm, settings.bigTableTasks, log)
      for (const name of ['list', 'get']) {
        if (bench.wanted(name)) await bench.compare('postgres-big', systems, name, scenario(name), users, settings.connections[0]!)
      }
      if (bench.wanted('list-user-size')) await userSizeRuns(bench, 'postgres-big', systems, users[0]!, bigUser!)
    }
  } finally {
    onInterrupt.delete(undo)
    await undo()
  }
}

/** The read scenarios at every connection count; list with EdDSA tokens right after list with HS256 ones. */
async function measureReads (bench: Bench, systems: Systems, users: BenchUser[], eddsaUsers: BenchUser[]): Promise<void> {
  for (const scenario of SCENARIOS.filter((candidate) => candidate.kind === 'read' && bench.wanted(candidate.name))) {
    for (const connections of bench.settings.connections) {
      await bench.compare('postgres', systems, scenario.name, scenario, users, connections)
      if (scenario.name === 'list' && bench.wanted('list-eddsa')) await bench.compare('postgres', systems, 'list-eddsa', scenario, eddsaUsers, connections)
    }
  }
}

/** The environment of a production API process, with rate limiting off: one user sends thousands of requests. */
function apiEnv (env: Record<string, string>): Record<string, string> {
  return { ...env, NODE_ENV: 'production', LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '0' }
}

/** List latency for one user with many tasks and one with few, on both systems, at the single-user connection count. */
async function userSizeRuns (bench: Bench, phase: string, systems: Systems, small: BenchUser, big: BenchUser): Promise<void> {
  const list = scenario('list')
  await bench.compare(phase, systems, `list-user-${small.taskIds.length}`, list, [small], bench.settings.flatConnections)
  await bench.compare(phase, systems, `list-user-${big.taskIds.length}`, list, [big], bench.settings.flatConnections)
}

/** Deletes what `create` made and the occurrences `complete` spawned, and makes the completed tasks pending again. */
async function resetWrittenTasks (orm: Orm): Promise<void> {
  await orm.execute(sql`delete from tasks where tags @> ${`{${CREATED_TAG}}`}::text[]`)
  await orm.execute(sql`delete from tasks where id in (select next_task_id from tasks where id in (select id from bench_pending))`)
  await orm.execute(sql`
    update tasks set completed = false, completed_at = null, next_task_id = null, version = 1, updated_at = created_at
    where id in (select id from bench_pending) and (completed or version <> 1 or next_task_id is not null)`)
  await vacuum(orm)
}

/** The seeded users whose ids start with `prefix`, with an HS256 token each and their tasks' ids, newest first. */
async function benchUsers (orm: Orm, secret: string, prefix = USER_PREFIX): Promise<BenchUser[]> {
  const rows = rowsOf<{ user_id: string; id: string; completed: boolean }>(
    await orm.execute(sql`select user_id, id, completed from tasks where user_id like ${`${prefix}%`} order by user_id, created_at desc, id desc`)
  )
  const byUser = new Map<string, BenchUser>()
  for (const row of rows) {
    let user = byUser.get(row.user_id)
    if (user === undefined) byUser.set(row.user_id, (user = { id: row.user_id, token: '', taskIds: [], pendingIds: [] }))
    user.taskIds.push(row.id)
    if (!row.completed) user.pendingIds.push(row.id)
  }
  const users = [...byUser.values()]
  return withTokens(users, hs256Tokens(secret, users.map((user) => user.id)))
}

function withTokens (users: BenchUser[], tokens: string[]): BenchUser[] {
  return users.map((user, index) => ({ ...user, token: tokens[index]! }))
}

// ---------------------------------------------------------------------------------------------- PGlite

async function pglitePhase (bench: Bench, secret: string): Promise<void> {
  const { settings } = bench
  log(`PGlite: seeding ${settings.pgliteUsers} users × ${settings.tasksPerUser} tasks…`)
  let users: BenchUser[] = []
  const folders = await createPgliteFolders(async (orm) => {
    await insertTasks(orm, USER_PREFIX, settings.pgliteUsers, settings.tasksPerUser)
    await vacuum(orm)
    users = await benchUsers(orm, secret)
  })
  const services: Service[] = []
  const undo = async () => {
    await bench.stop(services)
    await folders.remove()
  }
  onInterrupt.add(undo)
  try {
    const systems = {
      api: await bench.start('API (PGlite)', API_SCRIPT, { cwd: folders.apiCwd, env: apiEnv({ BETTER_AUTH_SECRET: secret, DATABASE_URL: 'pglite://./.data/pglite' }) }),
      ceiling: await bench.start('ceiling (PGlite)', CEILING_SCRIPT, {
        env: { BETTER_AUTH_SECRET: secret, CEILING_DRIVER: 'pglite', CEILING_PGLITE_DIR: folders.ceilingDir },
      }),
    }
    services.push(systems.api, systems.ceiling)
    const reads = ['list', 'get'].filter((name) => bench.wanted(name)).map(scenario)
    report('Parity check (PGlite)', await checkParity(systems.api, systems.ceiling, users, reads), bench)
    await bench.warmUp(systems, reads, users, async () => {})
    for (const read of reads) {
      for (const connections of settings.pgliteConnections) await bench.compare('pglite', systems, read.name, read, users, connections)
    }
  } finally {
    onInterrupt.delete(undo)
    await undo()
  }
}

// ---------------------------------------------------------------------------------------------- targets

/** The benchmark's targets, each a ratio within this run. A run without answers fails whatever it is compared with. */
function targets (bench: Bench): Check[] {
  const checks: Check[] = []
  const ratioCheck = (target: string, ratio: number, pass: (ratio: number) => boolean, detail = '') =>
    checks.push(
      Number.isFinite(ratio) && ratio > 0
        ? { target, measured: `${ratio.toFixed(2)}×${detail}`, pass: pass(ratio) }
        : { target, measured: 'no answers within the run (too short for this many connections?)', pass: false }
    )
  const { connections } = bench.settings
  const most = Math.max(...connections)
  for (const row of bench.comparisons.filter((candidate) => candidate.phase === 'postgres')) {
    const defined = SCENARIOS.find((candidate) => candidate.name === row.scenario)
    if (defined === undefined) continue
    ratioCheck(`${row.scenario} ×${row.connections}: throughput ≥ ${defined.minRatio}× the ceiling's`, row.ratio.throughput, (ratio) => ratio >= defined.minRatio, cpuRatios(row))
    if (row.connections === most) {
      ratioCheck(`${row.scenario} ×${most}: p99 ≤ 1.2× the ceiling's`, row.ratio.p99, (ratio) => ratio <= 1.2)
      checks.push({
        target: `${row.scenario} ×${most}: 0 errors and 0 non-2xx`,
        measured: `${row.api.errors} errors, ${row.api.non2xx} non-2xx in ${row.api.requests} answers`,
        pass: row.api.requests > 0 && row.api.errors + row.api.non2xx === 0,
      })
    }
  }
  for (const count of connections) {
    const [hs, ed] = [bench.find('postgres', 'list', count), bench.find('postgres', 'list-eddsa', count)]
    if (hs !== undefined && ed !== undefined) {
      const [hsCpu, edCpu] = [hs.api.cpu?.serverMicros, ed.api.cpu?.serverMicros]
      const cpu = hsCpu !== undefined && edCpu !== undefined ? ` (server CPU per request ${(edCpu / hsCpu).toFixed(2)}× HS256's)` : ''
      ratioCheck(`list ×${count}: EdDSA tokens ≥ 0.9× HS256 tokens (API req/s)`, ed.api.requestsPerSecond / hs.api.requestsPerSecond, (ratio) => ratio >= 0.9, cpu)
    }
  }
  for (const phase of ['postgres', 'postgres-big']) {
    const sizes = bench.comparisons.filter((row) => row.phase === phase && row.scenario.startsWith('list-user-'))
    if (sizes.length === 2) {
      const [small, big] = sizes as [Comparison, Comparison]
      const ceiling = (big.ceiling.latency.mean / small.ceiling.latency.mean).toFixed(2)
      const detail = ` (p99 ${(big.api.latency.p99 / small.api.latency.p99).toFixed(2)}×; the ceiling's mean ${ceiling}×)`
      const target = `${phase}: list latency of the ${tasksOf(big)}-task user ≤ 2× the ${tasksOf(small)}-task user's (API, mean)`
      ratioCheck(target, big.api.latency.mean / small.api.latency.mean, (ratio) => ratio <= 2, detail)
    }
  }
  for (const name of ['list', 'get']) {
    const [before, after] = [bench.find('postgres', name, connections[0]!), bench.find('postgres-big', name, connections[0]!)]
    if (before !== undefined && after !== undefined) {
      const target = `${name} ×${connections[0]}: the big table slows nobody down (API req/s, big ÷ seeded, ≥ 0.9×)`
      ratioCheck(target, after.api.requestsPerSecond / before.api.requestsPerSecond, (ratio) => ratio >= 0.9)
    }
  }
  for (const row of bench.comparisons.filter((candidate) => candidate.phase === 'pglite')) {
    ratioCheck(`PGlite ${row.scenario} ×${row.connections}: throughput ≥ 0.85× the raw-PGlite ceiling's`, row.ratio.throughput, (ratio) => ratio >= 0.85)
  }
  return checks
}

/** CPU per request, API ÷ ceiling: the steadier view of the same gap on a busy machine. */
function cpuRatios (row: Comparison): string {
  const ratio = (part: 'serverMicros' | 'databaseMicros') => {
    const [api, ceiling] = [row.api.cpu?.[part], row.ceiling.cpu?.[part]]
    return api === undefined || ceiling === undefined || ceiling <= 0 ? '?' : `${(api / ceiling).toFixed(2)}×`
  }
  return ` (CPU per request: server ${ratio('serverMicros')}, database ${ratio('databaseMicros')} the ceiling's)`
}

const tasksOf = (row: Comparison) => Number(row.scenario.slice('list-user-'.length)).toLocaleString('en')

// ---------------------------------------------------------------------------------------------- the run

function report (what: string, findings: string[], bench: Bench): void {
  if (findings.length === 0) {
    log(`  ${what}: ok`)
    return
  }
  log(`  ${what}: ${findings.length} finding(s)\n    ${findings.join('\n    ')}`)
  bench.notes.push(...findings.map((finding) => `${what}: ${finding}`))
}

function machine (): Record<string, unknown> {
  const cpus = os.cpus()
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return 'unknown'
    }
  }
  return {
    cpus: cpus.length,
    model: cpus[0]?.model ?? 'unknown',
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    'load average at start': os.loadavg().map((value) => value.toFixed(2)).join(' '),
    commit: `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', '--', 'src']) === '' ? '' : ' (src/ modified)'}`,
  }
}

async function main (): Promise<void> {
  const settings = loadSettings()
  buildIfStale()
  const bench = new Bench(settings)
  const startedAt = new Date().toISOString()
  const about = machine()
  log(`Machine: ${Object.entries(about).map(([key, value]) => `${key} ${String(value)}`).join(', ')}`)
  log(`Runs: ${settings.seconds} s each after ${settings.warmupSeconds} s of warm-up, ${settings.rounds} round(s), connections ${settings.connections.join(', ')}`)
  bench.notes.push('The load generator (autocannon), both servers and the database share this machine\'s cores; compare ratios, not absolute figures.')
  const secret = randomBytes(32).toString('base64url')
  const issuer = await startJwksIssuer()
  let failure: unknown
  try {
    await postgresPhase(bench, secret, issuer)
    if (settings.pglite) await pglitePhase(bench, secret)
  } catch (error) {
    failure = error
  } finally {
    await issuer.close()
  }
  const checks = targets(bench)
  const result: Report = {
    machine: about,
    settings: { ...settings, adminUrl: undefined, resultsDir: undefined },
    startedAt,
    finishedAt: new Date().toISOString(),
    notes: bench.notes,
    comparisons: bench.comparisons,
    checks,
  }
  log()
  log(consoleTable(bench.comparisons))
  log()
  log(checksText(checks))
  const files = await writeReport(result, settings.resultsDir)
  log(`\nWritten: ${files.join(', ')}`)
  if (failure !== undefined) throw failure
}

await main()
