import { neon, type NeonQueryFunction } from '@neondatabase/serverless'
import pg from 'pg'
import { DatabaseBusyError, DatabaseUnavailableError, WriteOutcomeUnknownError } from './errors.js'

/**
 * How long a query may take on a server database that has stopped answering, from when the repository asks to
 * its answer: waiting for a connection and waiting for the answer share it. The contract promises the whole
 * answer within 3 s; the rest is left to the request around the query, on an event loop that may be busy with
 * others. (A database that is busy answering others gets longer: see poolWithDeadline.)
 */
export const QUERY_DEADLINE_MS = 2500

/**
 * How long PostgreSQL runs a statement before it gives it up by itself (SQLSTATE 57014), so that a write whose
 * client stopped waiting cannot commit long after the answer. Shorter than the deadline: a statement that is
 * slow in the database itself (waiting for a row lock) is cancelled there first, and the answer can then say
 * that nothing was written.
 */
export const STATEMENT_TIMEOUT_MS = 2000

/** A statement that starts with `select` only reads; any other (insert, update, delete, `with` around one) may write. */
function mayWrite (statement: string): boolean {
  return !/^\s*select\b/i.test(statement)
}

/** The failure of a statement that got no answer: a write's outcome is unknown; a read changed nothing. */
function unanswered (statement: string, cause: unknown): Error {
  return mayWrite(statement) ? new WriteOutcomeUnknownError(cause) : new DatabaseUnavailableError(cause)
}

/** A late query waits on while the database answered some other query this recently: it is busy, not hanging. */
const ANSWERING_WITHIN_MS = 500

/**
 * However busy the database, a query waits at most this long for a pool connection (as long as pg's connection
 * timeout made it wait before there was a deadline), and then has the deadline again for its answer.
 */
export const CONNECTION_WAIT_LIMIT_MS = 3000

/**
 * A node-postgres pool whose every query gets one deadline, from when it is asked (pg's own timeouts are one
 * per phase, so a query could wait for a connection and then as long again for its answer). A query still
 * waiting at its deadline while the database keeps answering others is queued behind them rather than lost
 * in a hang: it waits on, up to CONNECTION_WAIT_LIMIT_MS for a connection and the deadline again for its
 * answer, so that a burst larger than the pool is served. Drizzle sends every statement through `pool.query`;
 * a transaction (`pool.connect()`) is not covered, and the repositories use none.
 */
export function poolWithDeadline (config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config)
  const answers = { lastAt: -Infinity }
  pool.query = ((query: pg.QueryConfig, values?: unknown[]) => queryWithin(pool, answers, query, values)) as typeof pool.query
  return pool
}

function queryWithin (
  pool: pg.Pool,
  answers: { lastAt: number },
  query: pg.QueryConfig,
  values: unknown[] | undefined
): Promise<pg.QueryResult> {
  const askedAt = performance.now()
  // Every connection the pool may open is open and in use: this query waits for one to be given back.
  const queued = pool.idleCount === 0 && pool.totalCount >= (pool.options.max as number)
  return new Promise((resolve, reject) => {
    let client: pg.PoolClient | undefined
    let sentAt: number | undefined
    let settled = false
    const settle = (): boolean => {
      if (settled) return false
      settled = true
      clearTimeout(timer)
      client?.removeListener('error', ignore)
      return true
    }
    const expire = () => {
      const now = performance.now()
      const limit = sentAt === undefined ? askedAt + CONNECTION_WAIT_LIMIT_MS : sentAt + QUERY_DEADLINE_MS
      if (now - answers.lastAt < ANSWERING_WITHIN_MS && now < limit) {
        timer = setTimeout(expire, Math.min(ANSWERING_WITHIN_MS, limit - now))
        return
      }
      const held = client
      if (!settle()) return
      const late = `no answer within ${Math.round(now - askedAt)} ms`
      if (held === undefined) return reject(queued ? new DatabaseBusyError(late) : new DatabaseUnavailableError(late))
      // Still running, perhaps: the connection is closed rather than handed to the next query.
      held.release(new Error(late))
      reject(unanswered(query.text, late))
    }
    let timer = setTimeout(expire, QUERY_DEADLINE_MS)

    pool.connect().then(
      (acquired) => {
        if (settled) return acquired.release()
        client = acquired
        sentAt = performance.now()
        // A connection error also fails the query below; without a listener it would be thrown.
        acquired.on('error', ignore)
        acquired.query(query, values).then(
          (result) => {
            answers.lastAt = performance.now()
            if (!settle()) return
            acquired.release()
            resolve(result)
          },
          (error: unknown) => {
            // A statement PostgreSQL refused leaves the connection as good as before; anything else ends it.
            const answered = error instanceof pg.DatabaseError
            if (answered) answers.lastAt = performance.now()
            if (!settle()) return
            acquired.release(answered ? undefined : (error as Error))
            reject(answered || neverSent(error) ? error : unanswered(query.text, error))
          }
        )
      },
      (error: unknown) => {
        if (settle()) reject(error)
      }
    )
  })
}

function ignore (): void {}

/** pg refuses a query on a connection it already knows is broken, without sending anything. */
function neverSent (error: unknown): boolean {
  return error instanceof Error && /is not queryable/.test(error.message)
}

/** Codes of a fetch that never connected, so sent nothing: refused, or no such host. */
const NOT_CONNECTED_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])

/** Sets the statement timeout for the rest of a transaction; the Neon HTTP endpoint keeps no session to set it on. */
const LOCAL_STATEMENT_TIMEOUT = `select set_config('statement_timeout', '${STATEMENT_TIMEOUT_MS}', true)`

/**
 * Neon's HTTP driver with the deadline on every query, and the statement timeout on every write. Neon's
 * endpoint passes no startup parameters from the connection string to PostgreSQL and keeps no session
 * between requests; a batch, though, runs in one transaction: a write is sent as one, after a
 * `set_config(…, is_local => true)`. A query whose fetch failed after connecting (aborted at the deadline
 * included) was sent: a write's outcome is then unknown. Drizzle calls `query` (it prefers it to calling
 * the function) for every statement; `db.batch()` would need `transaction` and is not offered.
 */
export function neonWithDeadline (url: string): NeonQueryFunction<false, false> {
  const sql: NeonQueryFunction<boolean, boolean> = neon(url, { fetchOptions: abortingAfter(QUERY_DEADLINE_MS) })
  const query = (statement: string, params?: unknown[], options?: Parameters<typeof sql.query>[2]) => {
    const answer: Promise<unknown> = mayWrite(statement)
      ? sql.transaction([sql.query(LOCAL_STATEMENT_TIMEOUT), sql.query(statement, params, options)]).then((results) => results[1])
      : sql.query(statement, params, options)
    return answer.catch((error: unknown) => {
      throw sentWithoutAnswer(error) ? unanswered(statement, error) : error
    })
  }
  return Object.assign(query, { query }) as unknown as NeonQueryFunction<false, false>
}

/** True when a Neon query's fetch failed after connecting; the driver keeps the fetch's error as `sourceError`. */
function sentWithoutAnswer (error: unknown): boolean {
  const sourceError = (error as { sourceError?: unknown } | undefined)?.sourceError
  // No fetch error: Neon answered, with PostgreSQL's error or its own.
  if (sourceError === undefined) return false
  for (let current: unknown = sourceError; current instanceof Error; current = current.cause) {
    if (NOT_CONNECTED_CODES.has((current as { code?: unknown }).code as string)) return false
  }
  return true
}

/**
 * fetch options that abort each Neon HTTP query after `ms`. The driver spreads these options into every fetch
 * it makes (`{ ...fetchOptions }`), which reads the getter each time: a fresh signal per query. (The other
 * way, neonConfig.fetchFunction, is global to the process.) The driver fetches as soon as it is asked: this is
 * the whole query's deadline.
 */
function abortingAfter (ms: number): RequestInit {
  return Object.defineProperty({}, 'signal', { enumerable: true, get: () => AbortSignal.timeout(ms) })
}
