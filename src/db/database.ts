import { fileURLToPath } from 'node:url'
import { PGlite, types, type PGliteOptions, type QueryOptions, type Results } from '@electric-sql/pglite'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import { neon } from '@neondatabase/serverless'
import { max, sql, type Logger } from 'drizzle-orm'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { drizzle as drizzleNeon } from 'drizzle-orm/neon-http'
import { migrate as migrateNeon } from 'drizzle-orm/neon-http/migrator'
import { drizzle as drizzleNodePostgres } from 'drizzle-orm/node-postgres'
import { migrate as migrateNodePostgres } from 'drizzle-orm/node-postgres/migrator'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { bigint, pgSchema } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import pg from 'pg'
import { CONNECTION_WAIT_LIMIT_MS, neonWithDeadline, poolWithDeadline, QUERY_DEADLINE_MS, STATEMENT_TIMEOUT_MS } from './deadline.js'
import { DatabaseUnavailableError, sqlState } from './errors.js'
import { lockPgliteFolder } from './pglite-lock.js'
import type { DatabaseTarget } from './target.js'

/** The query surface shared by all three drivers; repositories are written against it alone. */
export type Orm = PgDatabase<PgQueryResultHKT>

export interface Database {
  readonly driver: DatabaseTarget['driver']
  readonly orm: Orm
  /** Applies the migrations in ./drizzle that the database has not seen yet, with no time limit. */
  migrate(): Promise<void>
  /** How many migrations in ./drizzle the database has not applied. */
  pendingMigrations(): Promise<number>
  /** Resolves when the database answers a trivial query within `timeoutMs`. */
  ping(timeoutMs: number): Promise<void>
  /** Calls `listener` with each SQL statement sent, as Drizzle sends it; returns the unsubscribe function. */
  onQuery(listener: (statement: string) => void): () => void
  close(): Promise<void>
}

const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url))

/** Drizzle's own bookkeeping table, read to tell whether the schema is behind the code. */
const appliedMigrations = pgSchema('drizzle').table('__drizzle_migrations', {
  created_at: bigint('created_at', { mode: 'number' }),
})

/** node-postgres' default, kept: the benchmark's ceiling has a pool of the same size. */
export const POOL_SIZE = 10

/**
 * PGlite for Drizzle. Drizzle passes the same parsers with every query (timestamps, dates, intervals and their
 * arrays kept as text; Drizzle maps them itself), and PGlite merges per-query parsers into a fresh copy of its
 * table of every type's parser each time: about 160 µs a query in the bench profile, more than the query. Put in
 * that table once, after PGlite fills in its array types, they need no per-query copies, which are dropped.
 */
class DrizzlePGlite extends PGlite {
  /** The types drizzle-orm/pglite/session.js reads as text: these, then numeric, timestamp, timestamptz, interval and date arrays. */
  static readonly TEXT_TYPES = [types.TIMESTAMP, types.TIMESTAMPTZ, types.INTERVAL, types.DATE, 1231, 1115, 1185, 1187, 1182]

  constructor (options: Pick<PGliteOptions, 'dataDir' | 'loadDataDir' | 'startParams' | 'initDbStartParams'>) {
    // pg_trgm serves text search; Neon and PostgreSQL ship it, PGlite loads it as an extension.
    super({ ...options, extensions: { pg_trgm } })
  }

  /** PGlite's start, and its refreshArrayTypes(), (re)build the parsers of array types: text ones go on top. */
  override async _initArrayTypes (options?: { force?: boolean }): Promise<void> {
    await super._initArrayTypes(options)
    for (const type of DrizzlePGlite.TEXT_TYPES) this.parsers[type] = (value: string) => value
  }

  override query<T>(query: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>> {
    if (options?.parsers === undefined) return super.query<T>(query, params, options)
    const { parsers: _sameAsOwn, ...rest } = options
    return super.query<T>(query, params, rest)
  }
}

/**
 * In-memory databases start as copies of a fresh cluster: PostgreSQL's initdb takes about 3 s in WASM, loading a
 * copy 0.35 s (the tests open one per app). A process's first in-memory database runs initdb and keeps a copy of
 * its fresh cluster, unless one was handed over (useFreshCluster: a test run makes one for all its processes). The
 * copy is kept uncompressed, as unpacking gzip would add 0.25 s to each load, and its WAL segments are 1 MB, not
 * 16: the current one is copied whole, and a small one halves each load. The buffer cache is 16 MB, not 128 MB:
 * it caches pages that are in memory already, and a larger one only costs time to set up at each start.
 */
let freshCluster: Promise<Blob> | undefined
const IN_MEMORY_START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB']

async function inMemoryPglite (): Promise<DrizzlePGlite> {
  if (freshCluster !== undefined) return new DrizzlePGlite({ loadDataDir: await freshCluster, startParams: IN_MEMORY_START_PARAMS })
  const first = new DrizzlePGlite({ initDbStartParams: ['--wal-segsize=1'], startParams: IN_MEMORY_START_PARAMS })
  freshCluster = first.waitReady.then(() => first.dumpDataDir('none'))
  try {
    await freshCluster
  } catch (error) {
    // A failed start is the caller's error; the next in-memory database tries afresh.
    freshCluster = undefined
    await first.close().catch(() => {})
    throw error
  }
  return first
}

/** The fresh cluster this process's in-memory databases start from: made now when there is none yet. */
export async function freshClusterCopy (): Promise<Blob> {
  if (freshCluster === undefined) await (await inMemoryPglite()).close()
  return freshCluster!
}

/** In-memory databases of this process start from `cluster` (another's freshClusterCopy) instead of making one. */
export function useFreshCluster (cluster: Blob): void {
  freshCluster = Promise.resolve(cluster)
}

export async function openDatabase (target: DatabaseTarget, onPoolError: (error: Error) => void): Promise<Database> {
  const queries = new QueryListeners()
  const logger = queries.logger
  switch (target.driver) {
    case 'pglite': {
      // A folder keeps the data across restarts, for one process at a time; no folder is an in-memory
      // database for tests and demos.
      const unlock = target.dataDir === undefined ? async () => {} : await lockPgliteFolder(target.dataDir)
      const client = target.dataDir === undefined ? await inMemoryPglite() : new DrizzlePGlite({ dataDir: target.dataDir })
      const orm = drizzlePglite({ client, logger })
      return database(target.driver, orm, queries, () => migratePglite(orm, { migrationsFolder }), async () => {
        await client.close()
        await unlock()
      })
    }
    case 'node-postgres': {
      // pg's connection timeout frees the place of a connection attempt that hangs; a little longer than a
      // query waits for a connection, so that the query's own deadline, not pg's, ends that wait. The
      // statement timeout is a startup parameter of each connection.
      const pool = poolWithDeadline({
        connectionString: target.url,
        max: POOL_SIZE,
        connectionTimeoutMillis: CONNECTION_WAIT_LIMIT_MS + 500,
        statement_timeout: STATEMENT_TIMEOUT_MS,
      })
      // An idle client losing its connection must not crash the process; the next query reconnects.
      pool.on('error', onPoolError)
      const orm = drizzleNodePostgres({ client: pool, logger })
      // Migrations take as long as they take (an index on a large table): a connection of their own, without
      // the deadline or the statement timeout.
      const migrate = async () => {
        const client = new pg.Client({ connectionString: target.url, connectionTimeoutMillis: QUERY_DEADLINE_MS })
        // A lost connection fails the statement running; unheard, its error event would end the process.
        client.on('error', onPoolError)
        await client.connect()
        try {
          await migrateNodePostgres(drizzleNodePostgres({ client, logger }), { migrationsFolder })
        } finally {
          await client.end()
        }
      }
      return database(target.driver, orm, queries, migrate, () => pool.end())
    }
    case 'neon-http': {
      // Stateless HTTP: nothing to open or close.
      const orm = drizzleNeon({ client: neonWithDeadline(target.url), logger })
      const migrate = () => migrateNeon(drizzleNeon({ client: neon(target.url), logger }), { migrationsFolder })
      return database(target.driver, orm, queries, migrate, async () => {})
    }
  }
}

/** Drizzle's logger, fanned out to whoever listens (the statement log at trace level, the round-trip test). */
class QueryListeners {
  private readonly listeners = new Set<(statement: string) => void>()
  readonly logger: Logger = {
    logQuery: (statement) => {
      for (const listener of this.listeners) listener(statement)
    },
  }

  add (listener: (statement: string) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }
}

function database (
  driver: Database['driver'],
  orm: Orm,
  queries: QueryListeners,
  migrate: () => Promise<void>,
  close: () => Promise<void>
): Database {
  return {
    driver,
    orm,
    migrate,
    close,
    onQuery: (listener) => queries.add(listener),
    async pendingMigrations () {
      const migrations = readMigrationFiles({ migrationsFolder })
      let lastApplied = 0
      try {
        const [row] = await orm.select({ last: max(appliedMigrations.created_at) }).from(appliedMigrations)
        // max() over no rows is null, and Number(null) is 0.
        lastApplied = Number(row!.last)
      } catch (error) {
        // 42P01 undefined_table, 3F000 invalid_schema_name: never migrated at all.
        if (!['42P01', '3F000'].includes(sqlState(error) ?? '')) throw error
      }
      return migrations.filter((migration) => migration.folderMillis > lastApplied).length
    },
    async ping (timeoutMs) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new DatabaseUnavailableError('ping timed out')), timeoutMs)
      })
      try {
        await Promise.race([orm.execute(sql`select 1`), timeout])
      } finally {
        clearTimeout(timer)
      }
    },
  }
}
