import t from 'tap'
import type pg from 'pg'
import type { InjectOptions } from 'fastify'
import { bearer, buildApp, json, type TaskJson } from './support/app.js'
import { forEachDriver } from './support/drivers.js'
import { MAX_PREPARED_STATEMENTS, preparedStatementsOf } from '../src/repositories/prepared-statements.js'

/** The most statements a connection may hold: the process's bound, plus the change feed's two. */
const BOUND = MAX_PREPARED_STATEMENTS + 2

/** Each field absent, or set to one of these (null included). */
const FIELD_CHOICES: [string, unknown[]][] = [
  ['title', ['Renamed']],
  ['description', [null, 'Some words']],
  ['completed', [true, false]],
  ['priority', ['high']],
  ['tags', [['a', 'b']]],
  ['due_date', [null, '2027-01-31T09:00:00Z']],
  ['recurrence', [null, 'monthly']],
]

function fieldSets (): Record<string, unknown>[] {
  let sets: Record<string, unknown>[] = [{}]
  for (const [name, values] of FIELD_CHOICES) sets = sets.flatMap((set) => [set, ...values.map((value) => ({ ...set, [name]: value }))])
  // A recurrence is set only with a due date, and a due date cleared only with the recurrence: a statement the
  // database refuses (a 422) makes node-postgres's pool drop its connection, and the statements with it.
  return sets.filter(
    (set) => Object.keys(set).length > 0 && (set.recurrence === 'monthly') === (typeof set.due_date === 'string') && (set.due_date === null) === (set.recurrence === null)
  )
}

/**
 * Any user can vary a request's shape (which fields, which are null, how many If-Match tags or priorities, an
 * Idempotency-Key); each shape used to be a statement prepared and kept for good, in this process and in every
 * pooled connection's PostgreSQL backend. Whatever the requests, the statements kept stay within the bound.
 */
forEachDriver(t, async (t, databaseUrl, driver) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })
  const auth = bearer(`shapes-${driver}`)
  const created = await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'Target' } })
  const task = json<TaskJson>(created)

  const requests: InjectOptions[] = []
  // If-Match lists of many lengths, none matching: 412.
  const ifMatch = (length: number) => ({ ...auth, 'if-match': Array.from({ length }, () => '"9"').join(', ') })
  for (let length = 1; length <= 200; length++) requests.push({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: ifMatch(length), payload: { title: 'Never' } })
  for (let length = 1; length <= 55; length++) requests.push({ method: 'DELETE', url: `/api/tasks/${task.id}`, headers: ifMatch(length) })
  // Every combination of fields and nulls, as an update, a create, and an update with an Idempotency-Key.
  for (const [index, set] of fieldSets().entries()) {
    requests.push({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: auth, payload: set })
    requests.push({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'New', ...set } })
    requests.push({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: { ...auth, 'idempotency-key': `shape-${index}` }, payload: set })
  }
  // Listings with 1–10 priorities, with and without other filters, in both orders.
  for (let count = 1; count <= 10; count++) {
    const priorities = Array.from({ length: count }, (_, index) => ['low', 'medium', 'high'][index % 3]).join(',')
    for (const extra of ['', '&status=pending', '&tag=a', '&q=x', '&sort=title']) {
      for (const order of ['asc', 'desc']) requests.push({ url: `/api/tasks?priority=${priorities}${extra}&order=${order}`, headers: auth })
    }
  }
  t.ok(requests.length >= 1000, `${requests.length} requests of distinct shapes`)

  const statuses = new Map<number, number>()
  // One after another: the pool then serves them on one connection, which sees every shape.
  for (const request of requests) {
    const { statusCode } = await app.inject(request)
    statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1)
  }
  t.notOk([...statuses.keys()].some((status) => status >= 500), `no 5xx: ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.ok(statuses.get(412)! >= 200 && statuses.get(200)! > 0 && statuses.get(201)! > 0, 'the writes ran (and the stale ones were refused)')
  const kept = preparedStatementsOf(app.db.orm).size
  t.equal(kept, MAX_PREPARED_STATEMENTS, `the process keeps ${kept} statements: the bound is reached, never passed`)

  if (driver !== 'node-postgres') return
  // Every connection of the app's own pool: what the driver remembers as prepared, and what PostgreSQL holds.
  const pool = (app.db.orm as unknown as { $client: pg.Pool }).$client
  const clients = await Promise.all(Array.from({ length: pool.idleCount }, () => pool.connect()))
  try {
    for (const [index, client] of clients.entries()) {
      const parsed = Object.keys((client as unknown as { connection: { parsedStatements: object } }).connection.parsedStatements).length
      const { rows } = await client.query<{ kept: number }>('select count(*)::int as kept from pg_prepared_statements')
      t.ok(parsed <= BOUND, `connection ${index}: the driver keeps ${parsed} statements, at most ${BOUND}`)
      t.ok(rows[0]!.kept <= BOUND, `connection ${index}: PostgreSQL keeps ${rows[0]!.kept} statements, at most ${BOUND}`)
    }
  } finally {
    for (const client of clients) client.release()
  }
})
