import pg from 'pg'
import { DatabaseUnavailableError } from './errors.js'

/**
 * How long a query may take on a server database, from when the repository asks to its answer: waiting for a
 * connection and waiting for the answer share it. The contract promises the whole answer within 3 s; the
 * rest is left to the request around the query, on an event loop that may be busy with others.
 */
export const QUERY_DEADLINE_MS = 2500

/**
 * A node-postgres pool whose every query gets one deadline (pg's own timeouts are one per phase, so a query
 * could wait for a connection and then as long again for its answer). Drizzle sends every statement through
 * `pool.query`; a transaction (`pool.connect()`) is not covered, and the repositories use none.
 */
export function poolWithDeadline(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config)
  pool.query = ((query: pg.QueryConfig, values?: unknown[]) => queryWithin(pool, query, values)) as typeof pool.query
  return pool
}

function queryWithin(pool: pg.Pool, query: pg.QueryConfig, values: unknown[] | undefined): Promise<pg.QueryResult> {
  return new Promise((resolve, reject) => {
    let client: pg.PoolClient | undefined
    let settled = false
    const settle = (): boolean => {
      if (settled) return false
      settled = true
      clearTimeout(timer)
      client?.removeListener('error', ignore)
      return true
    }
    const timer = setTimeout(() => {
      const held = client
      if (!settle()) return
      // Still running, perhaps: the connection is closed rather than handed to the next query.
      held?.release(new Error('no answer before the deadline'))
      reject(new DatabaseUnavailableError(`no answer within ${QUERY_DEADLINE_MS} ms`))
    }, QUERY_DEADLINE_MS)

    pool.connect().then(
      (acquired) => {
        if (settled) return acquired.release()
        client = acquired
        // A connection error also fails the query below; without a listener it would be thrown.
        acquired.on('error', ignore)
        acquired.query(query, values).then(
          (result) => {
            if (!settle()) return
            acquired.release()
            resolve(result)
          },
          (error: unknown) => {
            if (!settle()) return
            // A statement PostgreSQL refused leaves the connection as good as before; anything else ends it.
            acquired.release(error instanceof pg.DatabaseError ? undefined : (error as Error))
            reject(error)
          },
        )
      },
      (error: unknown) => {
        if (settle()) reject(error)
      },
    )
  })
}

function ignore(): void {}

/**
 * fetch options that abort each Neon HTTP query after `ms`. The driver spreads these options into every fetch
 * it makes (`{ ...fetchOptions }`), which reads the getter each time: a fresh signal per query. (The other
 * way, neonConfig.fetchFunction, is global to the process.) The driver fetches as soon as it is asked: this is
 * the whole query's deadline.
 */
export function abortingAfter(ms: number): RequestInit {
  return Object.defineProperty({}, 'signal', { enumerable: true, get: () => AbortSignal.timeout(ms) })
}
