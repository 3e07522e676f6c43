import { existsSync } from 'node:fs'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { request as httpRequest, get as httpGet, type IncomingHttpHeaders } from 'node:http'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import pg from 'pg'
import { mintToken } from '../src/auth/token.js'
import type { TaskJson as Task } from './support/app.js'
import { createPostgresDatabase, TEST_DATABASE_URL } from './support/drivers.js'
import { freePort, runNode, SCRIPTS, startServer, tempDir, withTimeout, type RunningServer } from './support/process.js'

/**
 * The real server process, started as production starts it (`node dist/server.js`) in a temporary
 * cwd with an explicit environment, and driven over real HTTP: configuration errors, a production start on
 * PGlite and on PostgreSQL (with `npm run db:migrate`), graceful shutdown with a request in flight, the
 * zero-configuration development mode, `npm run token` and the `.env` file.
 */

const SECRET = 'server-test-secret-that-is-at-least-32-chars'
const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/

interface Reply {
  status: number
  headers: Headers
  body: unknown
}

/** A fetch against `server` as the holder of `token`; JSON in, JSON (or text) out. */
function client (server: RunningServer, token?: string) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(token !== undefined && { authorization: `Bearer ${token}` }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed }
  }
}

function jwtPayload (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
}

function productionEnv (databaseUrl: string): Record<string, string> {
  return { NODE_ENV: 'production', DATABASE_URL: databaseUrl, BETTER_AUTH_SECRET: SECRET, HOST: '127.0.0.1' }
}

/** One GET /health on a brand-new TCP connection (no keep-alive reuse): its status, or the connection error's code. */
function freshConnection (port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const request = httpGet({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: 2000 }, (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    request.on('timeout', () => request.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })))
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
  })
}

/**
 * SIGTERM while a POST is half sent: the server stops accepting connections, still finishes that request (201),
 * then exits 0. Returns the task it created.
 */
async function shutdownWithRequestInFlight (t: Test, server: RunningServer, token: string): Promise<Task> {
  const body = JSON.stringify({ title: 'sent across a SIGTERM', description: 'the second half arrives after the signal' })
  const half = Math.floor(body.length / 2)
  const request = httpRequest({
    host: '127.0.0.1',
    port: server.port,
    method: 'POST',
    path: '/api/tasks',
    agent: false,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  })
  const response = new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    request.on('error', reject)
    request.on('response', (incoming) => {
      let text = ''
      incoming.setEncoding('utf8').on('data', (chunk: string) => (text += chunk))
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: text }))
      incoming.on('error', reject)
    })
  })

  request.write(body.slice(0, half))
  await sleep(200) // the headers (and half the body) have surely reached the server
  server.child.kill('SIGTERM')
  await server.waitForLog((line) => line.msg === 'stopping: finishing in-flight requests')
  await sleep(100) // Fastify closes the listening socket on the next turns of its close sequence

  const late = await freshConnection(server.port)
  t.not(late, 200, `a new connection after SIGTERM is not served (got ${late})`)
  t.ok(late === 'ECONNREFUSED' || late === 503, `refused, or 503 while closing (got ${late})`)
  t.equal(server.child.exitCode, null, 'the process waits for the request in flight')

  request.end(body.slice(half))
  const answer = await withTimeout(response, 10_000, 'the in-flight request')
  t.equal(answer.status, 201, 'the in-flight request completes')
  const task = JSON.parse(answer.body) as Task
  t.match(task, { title: 'sent across a SIGTERM', user_id: jwtPayload(token).sub, completed: false })

  const exit = await withTimeout(server.exited, 15_000, 'the server after SIGTERM')
  t.same(exit, { code: 0, signal: null }, 'exit code 0 after finishing the request')
  return task
}

t.test('start-up errors: exit code 1 with one clear line per problem', async (t) => {
  const cwd = await tempDir(t)
  const server = (env: Record<string, string>) => runNode(t, SCRIPTS.server, [], { cwd, env })
  const closedPort = await freePort()
  // Short-lived processes, started together: each only validates its environment (or fails to connect) and exits.
  const runs = {
    unreachable: server({ ...productionEnv(`postgres://u:hunter2@127.0.0.1:${closedPort}/db`), PORT: String(await freePort()) }),
    migrateBadConfig: runNode(t, SCRIPTS.migrate, [], { cwd, env: { DATABASE_URL: 'mysql://u:hunter2@h/db' } }),
    several: server({ PORT: 'abc', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://u:hunter2@h/db', CORS_ORIGINS: 'not-an-origin' }),
    urls: server({ DATABASE_URL: 'mysql://u:hunter2@h/db', CORS_ORIGINS: 'http://localhost:3000,not-an-origin' }),
    noSecret: server({ NODE_ENV: 'production', DATABASE_URL: 'memory://' }),
    noDatabase: server({ NODE_ENV: 'production', BETTER_AUTH_SECRET: SECRET, PORT: String(await freePort()) }),
    shortSecret: server({ NODE_ENV: 'production', DATABASE_URL: 'memory://', BETTER_AUTH_SECRET: 'x'.repeat(31) }),
  }

  t.test('several bad values at once', async (t) => {
    const result = await runs.several
    t.equal(result.code, 1)
    t.ok(result.stderrLines.length > 0)
    for (const line of result.stderrLines) t.match(line, /^Configuration error: [A-Z_]+: /, 'each line is one problem')
    t.notMatch(result.stderr + result.stdout, /hunter2/, 'the password in DATABASE_URL is never echoed')
    t.equal(result.stdout, '', 'no log output: nothing started')
    t.match(result.stderr, /^Configuration error: PORT: /m)
    t.match(result.stderr, /^Configuration error: LOG_LEVEL: /m)

    t.match(result.stderr, /^Configuration error: DATABASE_URL: /m)
    t.match(result.stderr, /^Configuration error: CORS_ORIGINS: /m)
    t.equal(result.stderrLines.length, 4, 'one line per problem, every kind at once')
  })

  t.test('bad URLs alone: each named on its own line, credentials never echoed', async (t) => {
    const result = await runs.urls
    t.equal(result.code, 1)
    t.equal(result.stderrLines.length, 2, result.stderr)
    t.match(result.stderrLines, [/^Configuration error: DATABASE_URL: .*mysql/, /^Configuration error: CORS_ORIGINS: /])
    t.notMatch(result.stderr, /hunter2/)
  })

  t.test('production without BETTER_AUTH_SECRET', async (t) => {
    const result = await runs.noSecret
    t.equal(result.code, 1)
    t.same(result.stderrLines, ['Configuration error: BETTER_AUTH_SECRET: required when NODE_ENV=production, unless BETTER_AUTH_URL or JWKS_URL is set'])
  })

  t.test('production without DATABASE_URL: no silent embedded database', async (t) => {
    const result = await runs.noDatabase
    t.equal(result.code, 1)
    t.same(result.stderrLines, ['Configuration error: DATABASE_URL: required when NODE_ENV=production (a postgres:// URL, or pglite://<folder> for the embedded database)'])
    t.notOk(existsSync(join(cwd, '.data')), 'no ./.data/pglite was created')
  })

  t.test('production with a 31-character secret', async (t) => {
    const result = await runs.shortSecret
    t.equal(result.code, 1)
    t.equal(result.stderrLines.length, 1, result.stderr)
    t.match(result.stderrLines[0], /^Configuration error: BETTER_AUTH_SECRET: .*32/)
    t.notMatch(result.stderr, /x{31}/, 'the secret is not echoed')
  })

  t.test('db:migrate with a bad DATABASE_URL', async (t) => {
    const result = await runs.migrateBadConfig
    t.equal(result.code, 1)
    t.notMatch(result.stderr, /hunter2/)
    t.same(result.stderrLines, ['Configuration error: DATABASE_URL: unsupported scheme "mysql:" (expected postgres://…, pglite://<folder> or memory://)'], 'reported like the server does, without a stack trace')
  })

  t.test('a PostgreSQL server that does not answer', async (t) => {
    const result = await runs.unreachable
    t.equal(result.code, 1)
    t.match(result.stderrLines[0], /^Cannot start: /)
    t.notMatch(result.stderr, /hunter2/, 'the password in DATABASE_URL is never echoed')
    t.equal(result.stderrLines.length, 1, result.stderr)
    t.match(result.stderrLines[0], /^Cannot start: the database cannot be reached: .*(ECONNREFUSED|refused)/i, 'one line that names the cause')
  })
})

t.test('production on in-memory PGlite, over real HTTP', async (t) => {
  const cwd = await tempDir(t)
  const server = await startServer(t, { cwd, env: productionEnv('memory://') })
  const alice = mintToken({ BETTER_AUTH_SECRET: SECRET }, 'alice')
  const api = client(server, alice)

  t.test('health, ready and docs', async (t) => {
    const health = await client(server)('GET', '/health')
    t.same([health.status, health.body], [200, { status: 'ok' }])
    t.ok(health.headers.get('x-request-id'), 'every response carries X-Request-Id')
    const ready = await client(server)('GET', '/ready')
    t.same([ready.status, ready.body], [200, { status: 'ok' }])
    const openapi = await client(server)('GET', '/docs/json')
    t.equal(openapi.status, 200)
    t.match(openapi.body, { openapi: /^3\.1/ })
  })

  t.test('the task lifecycle', async (t) => {
    const anonymous = await client(server)('GET', '/api/tasks')
    t.equal(anonymous.status, 401)
    t.equal(anonymous.headers.get('www-authenticate'), 'Bearer')

    const created = await api('POST', '/api/tasks', { title: '  Ship it ', description: 'over real HTTP' }, { 'x-request-id': 'server-test-create' })
    t.equal(created.status, 201)
    const task = created.body as Task
    t.match(task, { user_id: 'alice', title: 'Ship it', description: 'over real HTTP', completed: false, completed_at: null })
    t.equal(created.headers.get('location'), `/api/tasks/${task.id}`)
    t.equal(created.headers.get('x-request-id'), 'server-test-create')

    const list = await api('GET', '/api/tasks')
    t.equal(list.status, 200)
    t.same(list.body, [task])
    t.same((await api('GET', '/api/alice/tasks')).body, [task], 'the /api/{user_id}/tasks style too')
    t.same((await client(server, mintToken({ BETTER_AUTH_SECRET: SECRET }, 'bob'))('GET', '/api/tasks')).body, [], "bob sees none of alice's")

    const got = await api('GET', `/api/tasks/${task.id}`)
    t.same([got.status, got.body], [200, task])

    const updated = await api('PUT', `/api/tasks/${task.id}`, { title: 'Ship it today' })
    t.equal(updated.status, 200)
    t.match(updated.body, { id: task.id, title: 'Ship it today', description: 'over real HTTP' })

    const toggled = await api('PATCH', `/api/tasks/${task.id}/complete`)
    t.equal(toggled.status, 200)
    t.match(toggled.body, { completed: true, completed_at: String })
    const toggledBack = await api('PATCH', `/api/tasks/${task.id}/complete`)
    t.match(toggledBack.body, { completed: false, completed_at: null })
    const set = await api('PATCH', `/api/tasks/${task.id}/complete`, { completed: true })
    t.match(set.body, { completed: true, completed_at: String })
    const setAgain = await api('PATCH', `/api/tasks/${task.id}/complete`, { completed: true })
    t.same(setAgain.body, set.body, 'setting the same value again changes nothing')

    const deleted = await api('DELETE', `/api/tasks/${task.id}`)
    t.equal(deleted.status, 204)
    t.equal((await api('GET', `/api/tasks/${task.id}`)).status, 404)
    t.same((await api('GET', '/api/tasks')).body, [])
  })

  t.test('npm run token -- <user>: a JWT the running server accepts', async (t) => {
    const result = await runNode(t, SCRIPTS.token, ['carol'], { cwd, env: { BETTER_AUTH_SECRET: SECRET } })
    t.equal(result.code, 0, result.stderr)
    const lines = result.stdout.split('\n').filter(Boolean)
    t.equal(lines.length, 1, 'prints exactly one line')
    const token = lines[0] ?? ''
    t.match(token, JWT)
    t.match(jwtPayload(token), { sub: 'carol', exp: Number })
    const list = await client(server, token)('GET', '/api/tasks')
    t.equal(list.status, 200)
    t.same(list.body, [])

    const usage = await runNode(t, SCRIPTS.token, [], { cwd, env: { BETTER_AUTH_SECRET: SECRET } })
    t.equal(usage.code, 1)
    t.equal(usage.stdout, '')
    t.match(usage.stderrLines, [/^Usage: npm run token -- <user-id>/])
  })

  t.test('logs: JSON lines with the docs URL and request ids, no development token', async (t) => {
    const logs = server.logs()
    t.ok(logs.length > 0, 'stdout holds JSON log lines')
    t.ok(logs.some((line) => typeof line.msg === 'string' && line.msg.includes(`${server.url}/docs`)), 'a line names /docs')
    t.notOk(logs.some((line) => /development token/i.test(String(line.msg))), 'no development token in production')
    t.notMatch(server.stdout(), /development token/i)
    t.ok(logs.some((line) => line.reqId === 'server-test-create'), 'request logs carry the request id')
    t.notMatch(server.stdout() + server.stderr(), new RegExp(SECRET), 'the secret is never logged')
  })

  t.test('SIGTERM with a request in flight: finished, then exit 0', async (t) => {
    const task = await shutdownWithRequestInFlight(t, server, alice)
    t.equal(task.user_id, 'alice')
    t.equal(server.stderr(), '', 'nothing on stderr')
  })
})

t.test('production on PostgreSQL, migrated by npm run db:migrate', { skip: TEST_DATABASE_URL === undefined && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const cwd = await tempDir(t)
  const databaseUrl = await createPostgresDatabase(t)
  const migrate = () => runNode(t, SCRIPTS.migrate, [], { cwd, env: { DATABASE_URL: databaseUrl } })

  t.test('an un-migrated database refuses the start, naming npm run db:migrate', async (t) => {
    const port = await freePort()
    const result = await runNode(t, SCRIPTS.server, [], { cwd, env: { ...productionEnv(databaseUrl), PORT: String(port) } })
    t.equal(result.code, 1)
    t.equal(result.stderrLines.length, 1, result.stderr)
    t.match(result.stderrLines[0], /npm run db:migrate/)
  })

  t.test('db:migrate applies the migrations', async (t) => {
    const result = await migrate()
    t.equal(result.code, 0, result.stderr)
    t.match(result.stdout, /^Applied [1-9]\d* migration\(s\) to the node-postgres database/)
  })

  t.test('the server then starts, serves, and finishes a request in flight on SIGTERM', async (t) => {
    const server = await startServer(t, { cwd, env: productionEnv(databaseUrl) })
    const dana = mintToken({ BETTER_AUTH_SECRET: SECRET }, 'dana')
    const api = client(server, dana)
    t.equal((await api('GET', '/ready')).status, 200)
    const created = await api('POST', '/api/tasks', { title: 'stored in PostgreSQL' })
    t.equal(created.status, 201)
    t.same((await api('GET', '/api/tasks')).body, [created.body])

    const inFlight = await shutdownWithRequestInFlight(t, server, dana)
    const database = new pg.Client({ connectionString: databaseUrl })
    await database.connect()
    try {
      const { rows } = await database.query<{ id: string; title: string }>('select id, title from tasks where user_id = $1 order by id', ['dana'])
      t.same(rows, [
        { id: (created.body as Task).id, title: 'stored in PostgreSQL' },
        { id: inFlight.id, title: inFlight.title },
      ], 'both tasks, the one written across the SIGTERM too, are in the database')
    } finally {
      await database.end()
    }
  })

  t.test('db:migrate again applies nothing', async (t) => {
    const result = await migrate()
    t.equal(result.code, 0, result.stderr)
    t.match(result.stdout, /^Applied 0 migration\(s\)/)
  })
})

t.test('production on embedded PGlite in the folder pglite:// names, one process per folder', async (t) => {
  const cwd = await tempDir(t)
  const folder = join(cwd, 'tasks-db')
  const lockFile = join(folder, 'tasks-api.lock')
  const grace = mintToken({ BETTER_AUTH_SECRET: SECRET }, 'grace')
  const lockText = () => readFile(lockFile, 'utf8').catch(() => 'no lock file')
  /** The refusal: one line naming the folder, the holder's pid and what to do. */
  const refusedFor = (t: Test, result: { code: number | null; stderrLines: string[] }, prefix: string, pid: number) => {
    t.equal(result.code, 1)
    t.equal(result.stderrLines.length, 1, result.stderrLines.join('\n'))
    const line = result.stderrLines[0] ?? ''
    t.ok(line.startsWith(`${prefix}the PGlite folder ${folder} is in use by process ${pid},`), line)
    t.match(line, /stop that process/)
  }

  const first = await startServer(t, { cwd, env: productionEnv('pglite://./tasks-db') })
  const firstPid = first.child.pid as number
  const created = await client(first, grace)('POST', '/api/tasks', { title: 'kept in ./tasks-db' })
  t.equal(created.status, 201)
  t.ok(existsSync(join(folder, 'PG_VERSION')), 'a relative folder is taken from the working directory')
  t.notOk(existsSync(join(cwd, '.data')), 'nothing in ./.data')
  t.equal(await lockText(), `${firstPid}\n`, 'the lock file holds the pid of the server')

  // The same folder by its absolute path: a second server, and db:migrate, refuse it.
  const second = await runNode(t, SCRIPTS.server, [], { cwd, env: { ...productionEnv(`pglite://${folder}`), PORT: String(await freePort()) } })
  refusedFor(t, second, 'Cannot start: ', firstPid)
  const migrate = await runNode(t, SCRIPTS.migrate, [], { cwd, env: { DATABASE_URL: `pglite://${folder}` } })
  refusedFor(t, migrate, 'Migration failed: ', firstPid)
  t.same((await client(first, grace)('GET', '/api/tasks')).body, [created.body], 'the first server keeps serving')

  first.child.kill('SIGKILL')
  await first.exited
  t.equal(await lockText(), `${firstPid}\n`, 'a killed server leaves its lock behind')
  const third = await startServer(t, { cwd, env: productionEnv(`pglite://${folder}`) })
  t.equal(await lockText(), `${third.child.pid}\n`, 'the stale lock is taken over')
  t.same((await client(third, grace)('GET', '/api/tasks')).body, [created.body], 'the data is in that folder')
  t.same(await third.stop(), { code: 0, signal: null })
  t.notOk(existsSync(lockFile), 'the lock is released on close')
})

t.test('development mode: no configuration at all, embedded PGlite in ./.data', async (t) => {
  const cwd = await tempDir(t)
  const developmentToken = async (server: RunningServer): Promise<string> => {
    const line = await server.waitForLog((line) => /Development token for user "dev-user"/.test(String(line.msg)))
    const token = /: (\S+)$/.exec(String(line.msg))?.[1] ?? ''
    t.match(token, JWT)
    t.match(jwtPayload(token), { sub: 'dev-user' })
    return token
  }

  const first = await startServer(t, { cwd })
  const token = await developmentToken(first)
  const api = client(first, token)
  const empty = await api('GET', '/api/tasks')
  t.same([empty.status, empty.body], [200, []], 'the printed token works')
  const secretFile = join(cwd, '.data', 'dev-secret')
  t.equal((await stat(secretFile)).mode & 0o777, 0o600, '.data/dev-secret is readable by its owner only')
  t.ok((await stat(join(cwd, '.data', 'pglite'))).isDirectory(), 'the data lives in ./.data/pglite')
  const secret = await readFile(secretFile, 'utf8')
  const created = await api('POST', '/api/tasks', { title: 'survives a restart' })
  t.equal(created.status, 201)

  const cli = await runNode(t, SCRIPTS.token, ['erin'], { cwd })
  t.equal(cli.code, 0, cli.stderr)
  const erin = cli.stdout.trim()
  t.match(jwtPayload(erin), { sub: 'erin' })
  t.equal((await client(first, erin)('GET', '/api/tasks')).status, 200, 'npm run token signs with the kept development secret')

  t.same(await first.stop(), { code: 0, signal: null })

  const second = await startServer(t, { cwd })
  await developmentToken(second)
  const again = await client(second, token)('GET', '/api/tasks')
  t.equal(again.status, 200, 'the token printed by the first run still works')
  t.same(again.body, [created.body], 'the task is still there')
  t.equal(await readFile(secretFile, 'utf8'), secret, 'the secret was kept, not regenerated')
  t.same(await second.stop(), { code: 0, signal: null })
})

t.test('production trusting only BETTER_AUTH_URL: no development secret is written, read or minted with', async (t) => {
  const cwd = await tempDir(t)
  const dataFolder = join(cwd, '.data')
  // Nothing listens there: these tests never need a key from it, and HS256 tokens never ask it.
  const env = { NODE_ENV: 'production', DATABASE_URL: 'memory://', BETTER_AUTH_URL: `http://127.0.0.1:${await freePort()}` }

  const cli = await runNode(t, SCRIPTS.token, ['anyone-i-like'], { cwd, env })
  t.equal(cli.code, 1, 'npm run token refuses')
  t.equal(cli.stdout, '', 'no token printed')
  t.same(cli.stderrLines, ['Configuration error: BETTER_AUTH_SECRET: npm run token needs it when NODE_ENV=production (no development secret is generated there)'])
  t.notOk(existsSync(dataFolder), 'npm run token wrote no ./.data')

  const first = await startServer(t, { cwd, env })
  t.notOk(existsSync(dataFolder), 'the start wrote no ./.data')
  t.same(await first.stop(), { code: 0, signal: null })

  // A development secret left behind on the host (or planted there) is not trusted either.
  const leftBehind = 'a-development-secret-left-on-the-host'
  await mkdir(dataFolder, { recursive: true })
  await writeFile(join(dataFolder, 'dev-secret'), `${leftBehind}\n`)
  const second = await startServer(t, { cwd, env })
  const forged = await client(second, mintToken({ BETTER_AUTH_SECRET: leftBehind }, 'mallory'))('GET', '/api/tasks')
  t.equal(forged.status, 401, 'an HS256 token signed with ./.data/dev-secret is refused')
  t.notMatch(second.stdout(), /development token/i, 'no development token printed')
  t.same(await second.stop(), { code: 0, signal: null })
})

t.test('a .env file in the cwd is read, and real environment variables win over it', async (t) => {
  const cwd = await tempDir(t)
  const envFilePort = await freePort()
  const realPort = await freePort()
  const envFileSecret = 'secret-from-the-dot-env-file-0123456789'
  await writeFile(
    join(cwd, '.env'),
    [
      'NODE_ENV=production',
      'DATABASE_URL=memory://',
      `BETTER_AUTH_SECRET=${envFileSecret}`,
      `PORT=${envFilePort}`,
      'LOG_LEVEL=silent',
    ].join('\n')
  )
  const server = await startServer(t, { cwd, env: { PORT: String(realPort), LOG_LEVEL: 'info' } })
  t.equal(server.port, realPort, 'PORT from the environment wins')
  t.equal(await freshConnection(envFilePort), 'ECONNREFUSED', 'nothing listens on the .env port')
  const fromEnvFile = await client(server, mintToken({ BETTER_AUTH_SECRET: envFileSecret }, 'frank'))('GET', '/api/tasks')
  t.equal(fromEnvFile.status, 200, 'BETTER_AUTH_SECRET comes from .env')
  const otherSecret = await client(server, mintToken({ BETTER_AUTH_SECRET: SECRET }, 'frank'))('GET', '/api/tasks')
  t.equal(otherSecret.status, 401)
  t.ok(server.logs().length > 0, 'LOG_LEVEL from the environment (info) wins over .env (silent)')
  t.notMatch(server.stdout(), /development token/i, 'NODE_ENV=production comes from .env')
  t.same(await server.stop(), { code: 0, signal: null })
})
