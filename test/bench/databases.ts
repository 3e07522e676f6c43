import { randomBytes } from 'node:crypto'
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { drizzle } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import { openDatabase, type Orm } from '../../src/db/database.js'
import { adminQuery } from '../support/drivers.js'

/**
 * A fresh `tasks_bench_*` database on the admin URL's server, migrated with the project's own migrations, and
 * a Drizzle handle on it for seeding and resets: a pool of its own without the service's 3 s query timeout,
 * which seeding a million rows would exceed.
 */
export interface BenchDatabase {
  name: string
  url: string
  orm: Orm
  drop(): Promise<void>
}

export async function createPostgresDatabase (adminUrl: string, keep: boolean): Promise<BenchDatabase> {
  const name = `tasks_bench_${Date.now()}_${randomBytes(3).toString('hex')}`
  await adminQuery(adminUrl, `create database ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  const migrating = await openDatabase({ driver: 'node-postgres', url: url.href }, (error) => console.warn(`bench: ${error.message}`))
  try {
    await migrating.migrate()
  } finally {
    await migrating.close()
  }
  const pool = new pg.Pool({ connectionString: url.href, max: 2 })
  pool.on('error', (error) => console.warn(`bench: ${error.message}`))
  return {
    name,
    url: url.href,
    orm: drizzle({ client: pool }),
    async drop () {
      await pool.end()
      if (!keep) await adminQuery(adminUrl, `drop database if exists ${name} with (force)`)
    },
  }
}

/**
 * Two copies of one seeded PGlite database, for the API and the raw-PGlite ceiling (each process owns its
 * folder). The API finds its copy at `<apiCwd>/.data/pglite`, named by DATABASE_URL (production requires one).
 */
export interface PgliteFolders {
  apiCwd: string
  ceilingDir: string
  remove(): Promise<void>
}

export async function createPgliteFolders (seed: (orm: Orm) => Promise<void>): Promise<PgliteFolders> {
  const root = await mkdtemp(join(tmpdir(), 'tasks-bench-pglite-'))
  const apiCwd = join(root, 'api')
  const apiDir = join(apiCwd, '.data', 'pglite')
  const ceilingDir = join(root, 'ceiling')
  await mkdir(apiDir, { recursive: true })
  const database = await openDatabase({ driver: 'pglite', dataDir: apiDir }, () => {})
  try {
    await database.migrate()
    await seed(database.orm)
  } finally {
    await database.close()
  }
  await cp(apiDir, ceilingDir, { recursive: true })
  return { apiCwd, ceilingDir, remove: () => rm(root, { recursive: true, force: true }) }
}
