import { connect } from 'node:net'
import t from 'tap'
import { DatabaseUnavailableError, isDatabaseUnavailable, sqlState } from '../src/db/errors.js'

/** A real socket error: what a driver sees when nothing listens on the database port. */
async function connectionRefused (): Promise<Error> {
  return new Promise((resolve) => {
    const socket = connect(1, '127.0.0.1')
    socket.on('error', resolve)
  })
}

t.test('sqlState', async (t) => {
  const pgError = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' })
  t.equal(sqlState(pgError), '23505', 'a bare driver error (Neon batches, PGlite)')
  t.equal(sqlState(new Error('Failed query', { cause: pgError })), '23505', 'wrapped by Drizzle')
  t.equal(sqlState(await connectionRefused()), undefined, 'a socket error code is not a SQLSTATE')
  t.equal(sqlState(new Error('no code')), undefined)
  t.equal(sqlState(undefined), undefined)
})

t.test('isDatabaseUnavailable', async (t) => {
  const refused = await connectionRefused()
  t.ok(isDatabaseUnavailable(refused), 'ECONNREFUSED')
  t.ok(isDatabaseUnavailable(new Error('Failed query', { cause: refused })), 'wrapped by Drizzle')
  t.ok(isDatabaseUnavailable(new DatabaseUnavailableError('timeout')))
  for (const code of ['08006', '53300', '57P01']) {
    t.ok(isDatabaseUnavailable(Object.assign(new Error('server said no'), { code })), `SQLSTATE ${code}`)
  }
  t.ok(isDatabaseUnavailable(new Error('Connection terminated unexpectedly')), "pg's message for a dropped connection")
  t.ok(isDatabaseUnavailable(new Error('Error connecting to database: TypeError: fetch failed')), "Neon's message for a failed fetch")
  t.notOk(isDatabaseUnavailable(Object.assign(new Error('violates check constraint'), { code: '23514' })))
  t.notOk(isDatabaseUnavailable(new Error('boom')))
  t.notOk(isDatabaseUnavailable('not an error'))
})
