import t from 'tap'
import { drizzle } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import { openDatabase } from '../src/db/database.js'
import { databaseTarget } from '../src/db/target.js'
import { TaskRepository, type ListOptions } from '../src/repositories/tasks.js'
import { createPostgresDatabase, TEST_DATABASE_URL } from './support/drivers.js'

/**
 * The common list queries, exactly as the repository sends them, planned by real PostgreSQL for one user with
 * 100,000 tasks among other users' 100,000: none may read the whole tasks table.
 */
t.test('list queries use indexes, never a sequential scan of tasks', { skip: TEST_DATABASE_URL === undefined && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const url = await createPostgresDatabase(t)
  const migrator = await openDatabase(databaseTarget({ DATABASE_URL: url }), () => {})
  await migrator.migrate()
  await migrator.close()

  const pool = new pg.Pool({ connectionString: url })
  t.teardown(() => pool.end())
  await pool.query(`
    insert into tasks (id, user_id, title, description, priority, tags, due_date, completed, completed_at, created_at, updated_at)
    select gen_random_uuid(), case when i <= 100000 then 'heavy' else 'user-' || (i % 100) end, 'Task number ' || i,
      case when i % 3 = 0 then 'note ' || i end, (array['low', 'medium', 'high'])[1 + i % 3], array['t' || (i % 50)],
      case when i % 4 <> 0 then now() + make_interval(mins => i) end, i % 5 = 0, case when i % 5 = 0 then now() end,
      now() - make_interval(secs => i), now() - make_interval(secs => i)
    from generate_series(1, 200000) as i`)
  await pool.query('vacuum analyze tasks')

  // The repository's own SQL, captured through Drizzle's logger, then explained with its parameters.
  const sent: { sql: string; params: unknown[] }[] = []
  const orm = drizzle({ client: pool, logger: { logQuery: (sql, params) => sent.push({ sql, params }) } })
  const repository = new TaskRepository(orm)
  const cases: [string, ListOptions][] = [
    ['default list', {}],
    ['status filter', { status: 'pending' }],
    ['due-date sort', { sort: 'due_date' }],
    ['priority sort', { sort: 'priority' }],
    ['tag filter', { tag: ['t7'] }],
    ['text search', { q: 'number 4242' }],
  ]
  for (const [name, options] of cases) {
    sent.length = 0
    const page = await repository.list('heavy', { ...options, limit: 20 })
    t.ok(page.total > 0, `${name}: matches tasks`)
    t.equal(sent.length, 1, `${name}: one statement`)
    const { rows } = await pool.query(`explain (format json) ${sent[0]!.sql}`, sent[0]!.params)
    const plan = JSON.stringify(rows[0]['QUERY PLAN'])
    const nodes = plan.match(/"Node Type":"[^"]+"/g)!.map((node) => node.slice(13, -1))
    t.notOk(nodes.includes('Seq Scan'), `${name}: no sequential scan (plan: ${nodes.join(', ')})`)
  }
})
