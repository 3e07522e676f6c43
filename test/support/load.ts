import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { Test } from 'tap'
import pg from 'pg'
import { etagOf } from '../../src/http/etag.js'
import type { TaskJson } from './app.js'

/**
 * Many HTTP clients driving the real server process, each with its own keep-alive connection, and a ledger of
 * what the server acknowledged, to compare with the database afterwards. Used by load.test.ts and
 * shutdown.test.ts.
 */

/** What became of one request, as its client saw it. */
export type Outcome =
  /** A whole response arrived. */
  | { kind: 'response'; status: number; headers: IncomingHttpHeaders; body: unknown }
  /** The status line arrived, then the connection broke (or the client gave up) before the body ended. */
  | { kind: 'cut-off'; status: number; error: string }
  /** No response at all: the connection was refused, reset or closed before a status line arrived. */
  | { kind: 'no-response'; error: string }

export type Operation = 'create' | 'update' | 'complete' | 'toggle' | 'read' | 'delete' | 'list'

/** One request and its outcome. `startedAt`/`endedAt` are performance.now() values of the test process. */
export interface Exchange {
  client: number
  requestId: string
  operation: Operation
  method: string
  path: string
  taskId?: string
  startedAt: number
  endedAt: number
  outcome: Outcome
  /** Whether the outcome is the success this operation expects (201, 200 or 204 with a consistent body). */
  acknowledged: boolean
}

/** The key a status distribution counts an outcome under: `201`, `503`, `ECONNREFUSED`, `cut-off 200 (ECONNRESET)`. */
export function outcomeKey (outcome: Outcome): string {
  switch (outcome.kind) {
    case 'response':
      return String(outcome.status)
    case 'cut-off':
      return `cut-off ${outcome.status} (${outcome.error})`
    case 'no-response':
      return outcome.error
  }
}

/** How long one request may take before the client gives up on it (the server's own request timeout is 30 s). */
const CLIENT_TIMEOUT_MS = 20_000

/**
 * One HTTP/1.1 client with exactly one keep-alive connection (`maxSockets: 1`), reused from request to request
 * as a browser or an SDK would, so the server sees long-lived busy and idle connections, not one per request.
 */
export class KeepAliveClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 })

  constructor (
    private readonly port: number,
    private readonly token: string
  ) {}

  send (method: string, path: string, body: unknown, requestId: string): Promise<Outcome> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    return new Promise((resolve) => {
      let settled = false
      const settle = (outcome: Outcome) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(outcome)
      }
      const request = httpRequest({
        host: '127.0.0.1',
        port: this.port,
        method,
        path,
        agent: this.agent,
        headers: {
          authorization: `Bearer ${this.token}`,
          'x-request-id': requestId,
          ...(payload !== undefined && { 'content-type': 'application/json', 'content-length': payload.length }),
        },
      })
      const timer = setTimeout(() => request.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })), CLIENT_TIMEOUT_MS)
      request.on('error', (error: NodeJS.ErrnoException) => settle({ kind: 'no-response', error: error.code ?? error.message }))
      request.on('response', (response) => {
        const status = response.statusCode ?? 0
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('error', (error: NodeJS.ErrnoException) => settle({ kind: 'cut-off', status, error: error.code ?? error.message }))
        response.on('close', () => {
          if (!response.complete) settle({ kind: 'cut-off', status, error: 'closed before the end of the body' })
        })
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let parsed: unknown = text
          try {
            parsed = text === '' ? undefined : JSON.parse(text)
          } catch {
            // not JSON: keep the text
          }
          settle({ kind: 'response', status, headers: response.headers, body: parsed })
        })
      })
      request.end(payload)
    })
  }

  /** Closes the connection, idle or not. */
  close (): void {
    this.agent.destroy()
  }
}

/** A task as the acknowledged responses describe it. */
export interface ExpectedTask {
  id: string
  userId: string
  title: string
  completed: boolean
  etag: string
  deleted: boolean
}

/** Everything the clients saw: every exchange, and the state of each task as last acknowledged. */
export class Ledger {
  readonly exchanges: Exchange[] = []
  readonly tasks = new Map<string, ExpectedTask>()
  /** Acknowledged responses that contradict their request or an earlier acknowledgement (e.g. a stale read). */
  readonly disagreements: string[] = []

  statusDistribution (exchanges: Exchange[] = this.exchanges): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const exchange of exchanges) {
      const key = outcomeKey(exchange.outcome)
      counts[key] = (counts[key] ?? 0) + 1
    }
    return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)))
  }

  operationCounts (exchanges: Exchange[] = this.exchanges): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const exchange of exchanges) counts[exchange.operation] = (counts[exchange.operation] ?? 0) + 1
    return counts
  }
}

/** A small seeded PRNG (mulberry32): a failing run can be repeated with the seed it reports. */
export function seededRandom (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = ['milk', 'Straße', 'review', 'deploy', 'café', '日本語', 'call mum', 'taxes', 'plants', '🚀 launch']

function isTask (body: unknown): body is TaskJson {
  return typeof body === 'object' && body !== null && typeof (body as TaskJson).id === 'string'
}

/**
 * A client that owns some tasks of `userId` and works on them one request at a time: creates, renames (PUT),
 * completes or un-completes (PATCH /complete with a body), toggles (PATCH /complete without one), reads back
 * and deletes. Only this client touches its tasks, so "the last acknowledged state" of each is well defined.
 */
export class TaskClient {
  /** Ids of this client's tasks that exist as far as the acknowledgements go. */
  readonly live: string[] = []
  private sequence = 0

  constructor (
    readonly index: number,
    readonly userId: string,
    readonly http: KeepAliveClient,
    private readonly ledger: Ledger,
    private readonly random: () => number
  ) {}

  /** One request, chosen at random among those that make sense for the tasks this client has. */
  step (): Promise<Exchange> {
    if (this.live.length < 3 || (this.live.length < 12 && this.random() < 0.25)) return this.create()
    const id = this.live[Math.floor(this.random() * this.live.length)]!
    const task = this.ledger.tasks.get(id)!
    const choice = this.random()
    if (choice < 0.3) return this.update(task)
    if (choice < 0.58) return this.complete(task, this.random() < 0.5)
    if (choice < 0.7) return this.complete(task, undefined)
    if (choice < 0.82) return this.read(task)
    return this.remove(task)
  }

  private title (): string {
    return `${this.userId}/${this.index}/${this.sequence} ${WORDS[Math.floor(this.random() * WORDS.length)]}`
  }

  private async exchange (
    operation: Operation,
    method: string,
    path: string,
    body: unknown,
    taskId?: string
  ): Promise<[Exchange, Outcome]> {
    const requestId = `c${this.index}-${++this.sequence}`
    const startedAt = performance.now()
    const outcome = await this.http.send(method, path, body, requestId)
    const exchange: Exchange = {
      client: this.index,
      requestId,
      operation,
      method,
      path,
      ...(taskId !== undefined && { taskId }),
      startedAt,
      endedAt: performance.now(),
      outcome,
      acknowledged: false,
    }
    this.ledger.exchanges.push(exchange)
    return [exchange, outcome]
  }

  private disagree (exchange: Exchange, what: string): void {
    this.ledger.disagreements.push(`${exchange.requestId} ${exchange.method} ${exchange.path}: ${what}`)
  }

  /** Records an acknowledged task response: the body is the task as stored by that write. */
  private acknowledge (exchange: Exchange, outcome: Outcome, expected: { title: string; completed: boolean }): void {
    if (outcome.kind !== 'response' || !isTask(outcome.body)) return
    const task = outcome.body
    const etag = outcome.headers.etag
    exchange.acknowledged = true
    if (task.title !== expected.title || task.completed !== expected.completed || task.user_id !== this.userId) {
      this.disagree(exchange, `answered ${JSON.stringify({ title: task.title, completed: task.completed, user_id: task.user_id })}, expected ${JSON.stringify({ ...expected, user_id: this.userId })}`)
    }
    if ((task.completed_at !== null) !== task.completed) this.disagree(exchange, `completed ${task.completed} with completed_at ${task.completed_at}`)
    if (typeof etag !== 'string') this.disagree(exchange, 'no ETag')
    const existing = this.ledger.tasks.get(task.id)
    if (existing === undefined) {
      this.ledger.tasks.set(task.id, { id: task.id, userId: this.userId, title: task.title, completed: task.completed, etag: etag ?? '', deleted: false })
      this.live.push(task.id)
    } else {
      Object.assign(existing, { title: task.title, completed: task.completed, etag: etag ?? '' })
    }
  }

  async create (): Promise<Exchange> {
    const title = this.title()
    const completed = this.random() < 0.2
    const body = { title, ...(this.random() < 0.5 && { description: `made by client ${this.index}` }), ...(completed && { completed }) }
    const [exchange, outcome] = await this.exchange('create', 'POST', '/api/tasks', body)
    if (outcome.kind === 'response' && outcome.status === 201) {
      if (isTask(outcome.body) && outcome.headers.location !== `/api/tasks/${outcome.body.id}`) {
        this.disagree(exchange, `Location ${outcome.headers.location}`)
      }
      this.acknowledge(exchange, outcome, { title, completed })
    }
    return exchange
  }

  async update (task: ExpectedTask): Promise<Exchange> {
    const title = this.title()
    const [exchange, outcome] = await this.exchange('update', 'PUT', `/api/tasks/${task.id}`, { title }, task.id)
    if (outcome.kind === 'response' && outcome.status === 200) this.acknowledge(exchange, outcome, { title, completed: task.completed })
    return exchange
  }

  /** `completed` set: PATCH with that body (idempotent); undefined: PATCH without a body (a toggle). */
  async complete (task: ExpectedTask, completed: boolean | undefined): Promise<Exchange> {
    const [exchange, outcome] =
      completed === undefined
        ? await this.exchange('toggle', 'PATCH', `/api/tasks/${task.id}/complete`, undefined, task.id)
        : await this.exchange('complete', 'PATCH', `/api/tasks/${task.id}/complete`, { completed }, task.id)
    if (outcome.kind === 'response' && outcome.status === 200) {
      this.acknowledge(exchange, outcome, { title: task.title, completed: completed ?? !task.completed })
    }
    return exchange
  }

  /** A read must return exactly the last acknowledged state: nothing else writes this task. */
  async read (task: ExpectedTask): Promise<Exchange> {
    const [exchange, outcome] = await this.exchange('read', 'GET', `/api/tasks/${task.id}`, undefined, task.id)
    if (outcome.kind === 'response' && outcome.status === 200 && isTask(outcome.body)) {
      exchange.acknowledged = true
      const seen = { title: outcome.body.title, completed: outcome.body.completed, etag: outcome.headers.etag }
      const expected = { title: task.title, completed: task.completed, etag: task.etag }
      if (JSON.stringify(seen) !== JSON.stringify(expected)) this.disagree(exchange, `read ${JSON.stringify(seen)}, last acknowledged ${JSON.stringify(expected)}`)
    }
    return exchange
  }

  async remove (task: ExpectedTask): Promise<Exchange> {
    const [exchange, outcome] = await this.exchange('delete', 'DELETE', `/api/tasks/${task.id}`, undefined, task.id)
    if (outcome.kind === 'response' && outcome.status === 204) {
      exchange.acknowledged = true
      task.deleted = true
      this.live.splice(this.live.indexOf(task.id), 1)
    }
    return exchange
  }
}

interface TaskRow {
  id: string
  user_id: string
  title: string
  completed: boolean
  completed_at: Date | null
  version: number
}

/**
 * Asserts that the rows of `userIds` in the database are exactly what the acknowledged responses imply: every
 * acknowledged create is there unless its delete was acknowledged, acknowledged deletes are gone, nothing
 * unacknowledged appeared, and each task's title, completion and ETag (its version) are the last acknowledged.
 */
export async function assertDatabaseMatches (t: Test, databaseUrl: string, ledger: Ledger, userIds: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  let rows: TaskRow[]
  try {
    ;({ rows } = await client.query<TaskRow>(
      'select id, user_id, title, completed, completed_at, version from tasks where user_id = any($1::text[]) and deleted_at is null',
      [userIds]
    ))
  } finally {
    await client.end()
  }
  const stored = new Map(rows.map((row) => [row.id, row]))
  const expected = [...ledger.tasks.values()]
  const alive = expected.filter((task) => !task.deleted)
  const deleted = expected.filter((task) => task.deleted)

  const missing = alive.filter((task) => !stored.has(task.id)).map((task) => task.id)
  const resurrected = deleted.filter((task) => stored.has(task.id)).map((task) => task.id)
  const unexpected = rows.filter((row) => !ledger.tasks.has(row.id)).map((row) => ({ id: row.id, user_id: row.user_id, title: row.title }))
  const differing = alive.flatMap((task) => {
    const row = stored.get(task.id)
    if (row === undefined) return []
    const actual = { user_id: row.user_id, title: row.title, completed: row.completed, etag: etagOf(row) }
    const wanted = { user_id: task.userId, title: task.title, completed: task.completed, etag: task.etag }
    return JSON.stringify(actual) === JSON.stringify(wanted) ? [] : [{ id: task.id, stored: actual, acknowledged: wanted }]
  })
  const inconsistent = rows.filter((row) => (row.completed_at !== null) !== row.completed).map((row) => row.id)

  t.comment(`database: ${rows.length} rows; acknowledged: ${expected.length} creates, ${deleted.length} deletes`)
  t.equal(rows.length, alive.length, 'as many rows as acknowledged creates minus acknowledged deletes')
  t.equal(missing.length, 0, 'every acknowledged create is stored unless its delete was acknowledged', { sample: missing.slice(0, 10) })
  t.equal(resurrected.length, 0, 'every acknowledged delete is gone', { sample: resurrected.slice(0, 10) })
  t.equal(unexpected.length, 0, 'no row that no acknowledged create accounts for', { sample: unexpected.slice(0, 10) })
  t.equal(differing.length, 0, 'title, completion and version of every task are the last acknowledged', { sample: differing.slice(0, 10) })
  t.equal(inconsistent.length, 0, 'completed_at is set exactly when completed is true', { sample: inconsistent.slice(0, 10) })
}

/** p50/p95/p99/max of the exchanges' durations, in ms. */
export function latencies (exchanges: Exchange[]): Record<string, number> {
  const durations = exchanges.map((exchange) => exchange.endedAt - exchange.startedAt).sort((a, b) => a - b)
  const at = (q: number) => Math.round(durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] ?? 0)
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: Math.round(durations.at(-1) ?? 0) }
}
