import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { openDatabase, type Database } from '../db/database.js'
import { databaseTarget } from '../db/target.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
  }
}

class SchemaBehindError extends Error {
  constructor (pending: number) {
    super(`The database schema is behind the code by ${pending} migration(s): run \`npm run db:migrate\` first.`)
  }
}

/**
 * Opens the database that DATABASE_URL names. The embedded database migrates itself, so `npm start` needs
 * nothing else; a server database is migrated by an operator (`npm run db:migrate`), and the service refuses
 * to start against an older schema rather than fail on its first query.
 */
const db: FastifyPluginAsync = async (fastify) => {
  const database = await openDatabase(databaseTarget(fastify.config), (error) => {
    fastify.log.warn({ err: error }, 'database connection lost; it reconnects on the next query')
  })
  fastify.addHook('onClose', () => database.close())
  // Every statement, for an operator who sets LOG_LEVEL=trace (parameters are left out: they hold user data).
  if (fastify.log.level === 'trace') database.onQuery((statement) => fastify.log.trace({ statement }, 'sql statement'))
  if (database.driver === 'pglite') {
    await database.migrate()
  } else {
    const pending = await database.pendingMigrations()
    if (pending > 0) throw new SchemaBehindError(pending)
  }
  fastify.decorate('db', database)
}

export default fp(db, { name: 'db', dependencies: ['env'] })
