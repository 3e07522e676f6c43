import { describeStartupError, loadConfigOrExit } from '../startup.js'
import { openDatabase } from './database.js'
import { databaseTarget } from './target.js'

/** `npm run db:migrate`: applies ./drizzle's pending migrations to the database DATABASE_URL names. */
const target = databaseTarget(loadConfigOrExit())
const database = await openDatabase(target, (error) => console.error(error.message))
try {
  const pending = await database.pendingMigrations()
  await database.migrate()
  console.log(`Applied ${pending} migration(s) to the ${target.driver} database; the schema is up to date.`)
} catch (error) {
  console.error(`Migration failed: ${describeStartupError(error)}`)
  process.exitCode = 1
} finally {
  await database.close()
}
