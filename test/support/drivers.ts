import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import pg from 'pg'
import { openDatabase } from '../../src/db/database.js'
import { databaseTarget } from '../../src/db/target.js'
import { startNeonStandIn } from './neon-stand-in.js'

/** A real PostgreSQL server to test against (CI sets it); without it only PGlite runs. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL

export type DriverName = 'pglite' | 'node-postgres' | 'neon-http'

/** The drivers this run can exercise: PGlite always, the two server drivers when PostgreSQL is available. */
export const DRIVERS: DriverName[] = TEST_DATABASE_URL === undefined ? ['pglite'] : ['pglite', 'node-postgres', 'neon-http']

/**
 * A fresh, empty PostgreSQL database on the test server, dropped when `t` ends, so test files running in
 * parallel never see each other's rows or migrations.
 */
export async function createPostgresDatabase (t: Test): Promise<string> {
  if (TEST_DATABASE_URL === undefined) throw new Error('TEST_DATABASE_URL is not set')
  const name = `tasks_test_${randomBytes(6).toString('hex')}`
  await adminQuery(TEST_DATABASE_URL, `create database ${name}`)
  t.teardown(() => adminQuery(TEST_DATABASE_URL as string, `drop database if exists ${name} with (force)`))
  const url = new URL(TEST_DATABASE_URL)
  url.pathname = `/${name}`
  return url.toString()
}

/** One statement on its own connection, such as `create database`, which cannot run inside a pool's transaction. */
export async function adminQuery (url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}

/**
 * A DATABASE_URL for `driver`: in-memory PGlite; a fresh PostgreSQL database; or the same behind the Neon
 * stand-in, so the production neon-http code runs against a real server. Server databases come migrated
 * (`migrated: false` leaves them empty), as an operator's `npm run db:migrate` would leave them.
 */
export async function databaseUrlFor (t: Test, driver: DriverName, { migrated = true } = {}): Promise<string> {
  if (driver === 'pglite') return 'memory://'
  const postgresUrl = await createPostgresDatabase(t)
  let url = postgresUrl
  if (driver === 'neon-http') {
    const standIn = await startNeonStandIn(postgresUrl)
    t.teardown(() => standIn.close())
    url = standIn.connectionString
  }
  if (migrated) {
    const database = await openDatabase(databaseTarget({ DATABASE_URL: url }), () => {})
    await database.migrate()
    await database.close()
  }
  return url
}

/** Runs `suite` once per available driver, each as its own subtest with its own database. */
export function forEachDriver (t: Test, suite: (t: Test, databaseUrl: string, driver: DriverName) => Promise<void>): void {
  for (const driver of DRIVERS) {
    t.test(driver, async (t) => suite(t, await databaseUrlFor(t, driver), driver))
  }
}
