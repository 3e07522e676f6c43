import { openDatabase, type Database } from '../db/database.js'
import { databaseTarget } from '../db/target.js'
import { describeStartupError, loadConfigOrExit } from '../startup.js'

/** `npm run db:migrate`: applies ./drizzle's pending migrations to the database DATABASE_URL names. */
const target = databaseTarget(loadConfigOrExit())
let database: Database | undefined
try {
  // Opening fails too, for a PGlite folder a running server holds.
  database = await openDatabase(target, (error) => console.error(error.message))
  const pending = await database.pendingMigrations()
  await database.migrate()
  console.log(`Applied ${pending} migration(s) to the ${target.driver} database; the schema is up to date.`)
} catch (error) {
  console.error(`Migration failed: ${describeStartupError(error)}`)
  process.exitCode = 1
} finally {
  await database?.close()
}
