import { readFile } from 'node:fs/promises'
import t from 'tap'
import { migrate as migrateNeon } from 'drizzle-orm/neon-http/migrator'
import { migrate as migrateNodePostgres } from 'drizzle-orm/node-postgres/migrator'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { eq, sql } from 'drizzle-orm'
import { openDatabase } from '../src/db/database.js'
import { isDatabaseUnavailable, sqlState } from '../src/db/errors.js'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { getTableConfig } from 'drizzle-orm/pg-core'
import { tasks } from '../src/db/schema.js'
import { databaseTarget } from '../src/db/target.js'
import { buildApp } from './support/app.js'
import { databaseUrlFor, DRIVERS, type DriverName } from './support/drivers.js'

/** Each driver's Drizzle migrator, to apply an older migrations folder than the one the app ships. */
const OLD_MIGRATORS: Record<DriverName, (orm: never, config: { migrationsFolder: string }) => Promise<void>> = {
  pglite: migratePglite,
  'node-postgres': migrateNodePostgres,
  'neon-http': migrateNeon,
}
const MIGRATIONS = readMigrationFiles({ migrationsFolder: 'drizzle' }).length

for (const driver of DRIVERS) {
  t.test(`${driver}: driver behaviour the repository relies on`, async (t) => {
    const url = await databaseUrlFor(t, driver, { migrated: false })
    const database = await openDatabase(databaseTarget({ DATABASE_URL: url }), () => {})
    t.teardown(() => database.close())
    t.equal(database.driver, driver)

    t.equal(await database.pendingMigrations(), MIGRATIONS, 'a new database has every migration pending')
    await database.migrate()
    t.equal(await database.pendingMigrations(), 0, 'none after migrating')
    await database.migrate()
    t.equal(await database.pendingMigrations(), 0, 'migrating again applies nothing')

    const stamp = new Date('2026-02-28T23:59:59.123Z')
    const id = '01900000-0000-7000-8000-00000000000a'
    await database.orm.insert(tasks).values({ id, user_id: 'u', title: 't', completed: true, completed_at: stamp })
    const [row] = await database.orm.select().from(tasks).where(eq(tasks.id, id))
    t.ok(row!.completed_at instanceof Date, 'timestamps come back as Date')
    t.equal(row!.completed_at!.toISOString(), stamp.toISOString(), 'milliseconds and UTC survive the round trip')
    t.ok(row!.created_at instanceof Date)

    // The repository reads rows through a prepared query's `all()` (rowsOf), which each driver's prepared query
    // has but their shared type does not declare: the driver's rows, keyed by column, timestamps as text.
    const prepared = database.orm
      .select({ id: tasks.id, completed_at: tasks.completed_at })
      .from(tasks)
      .where(eq(tasks.id, sql.placeholder('id')))
      .prepare('driver_rows_check') as unknown as { all?: (values: Record<string, unknown>) => Promise<Record<string, unknown>[]> }
    t.type(prepared.all, 'function', 'a prepared query has all()')
    const rows = await prepared.all!({ id })
    t.same(Object.keys(rows[0] ?? {}).sort(), ['completed_at', 'id'], 'one row, keyed by column')
    t.type(rows[0]!.completed_at, 'string', 'timestamps are left as text for taskOf')
    t.equal(new Date(rows[0]!.completed_at as string).toISOString(), stamp.toISOString())

    const violations: [string, () => Promise<unknown>][] = [
      ['23505', () => database.orm.insert(tasks).values({ id, user_id: 'u', title: 'dup' })],
      ['23514', () => database.orm.insert(tasks).values({ id: '01900000-0000-7000-8000-00000000000b', user_id: 'u', title: '' })],
      ['23514', () => database.orm.insert(tasks).values({ id: '01900000-0000-7000-8000-00000000000c', user_id: 'u', title: 'x', completed: true })],
    ]
    for (const [code, write] of violations) {
      const error = await write().then(() => undefined, (caught: unknown) => caught)
      t.ok(error, `rejected with ${code}`)
      t.equal(sqlState(error), code, 'the SQLSTATE is found whatever the driver wrapped it in')
      t.notOk(isDatabaseUnavailable(error), 'a constraint violation is not an outage')
    }

    // The committed migrations create what src/db/schema.ts declares: a schema change without its migration fails here.
    const declared = getTableConfig(tasks)
    const names = async (query: ReturnType<typeof sql>) =>
      ((await database.orm.execute(query)) as unknown as { rows: { name: string }[] }).rows.map((r) => r.name).sort()
    t.same(
      await names(sql`select indexname as name from pg_indexes where tablename = 'tasks' and indexname <> 'tasks_pkey'`),
      declared.indexes.map((index) => index.config.name).sort(),
      'indexes match the schema'
    )
    t.same(
      await names(sql`select conname as name from pg_constraint where conrelid = 'tasks'::regclass and contype = 'c'`),
      declared.checks.map((check) => check.name).sort(),
      'check constraints match the schema'
    )

    await database.ping(3000)
    t.pass('ping answers')

    if (driver === 'neon-http') {
      // Neon's HTTP driver has no interactive transactions: the repository writes single statements instead.
      await t.rejects(database.orm.transaction(async () => {}), /No transactions support/)
    }
  })

  t.test(`${driver}: a database made by the first migration, with tasks in it, upgrades with nothing lost`, async (t) => {
    const url = await databaseUrlFor(t, driver, { migrated: false })
    const database = await openDatabase(databaseTarget({ DATABASE_URL: url }), () => {})
    t.teardown(() => database.close())
    // A migrations folder holding only the first migration: the schema as the previous release left it.
    const journal = JSON.parse(await readFile('drizzle/meta/_journal.json', 'utf8'))
    const first = journal.entries[0]
    const oldFolder = t.testdir({
      [`${first.tag}.sql`]: await readFile(`drizzle/${first.tag}.sql`, 'utf8'),
      meta: { '_journal.json': JSON.stringify({ ...journal, entries: [first] }) },
    })
    await OLD_MIGRATORS[driver](database.orm as never, { migrationsFolder: oldFolder })
    t.equal(await database.pendingMigrations(), MIGRATIONS - 1)
    await database.orm.execute(sql`insert into tasks (id, user_id, title, description, completed, completed_at)
      values ('01900000-0000-7000-8000-0000000000b1', 'old-user', 'from before', 'kept', true, now())`)

    await database.migrate()
    t.equal(await database.pendingMigrations(), 0)
    const [task] = await database.orm.select().from(tasks)
    t.match(task, {
      id: '01900000-0000-7000-8000-0000000000b1',
      user_id: 'old-user',
      title: 'from before',
      description: 'kept',
      completed: true,
      priority: 'medium',
      tags: [],
      due_date: null,
      recurrence: null,
      next_task_id: null,
    })
    t.ok(task!.completed_at instanceof Date)
  })

  if (driver !== 'pglite') {
    t.test(`${driver}: the service refuses to start on a schema that is behind`, async (t) => {
      const url = await databaseUrlFor(t, driver, { migrated: false })
      await t.rejects(buildApp(t, { DATABASE_URL: url }), { message: /schema is behind.*npm run db:migrate/ })
    })
  }
}

t.test('pglite: a folder database keeps its data across restarts', async (t) => {
  const dataDir = `${t.testdir()}/pglite`
  const first = await openDatabase({ driver: 'pglite', dataDir }, () => {})
  await first.migrate()
  await first.orm.insert(tasks).values({ id: '01900000-0000-7000-8000-0000000000aa', user_id: 'u', title: 'kept' })
  await first.close()
  const second = await openDatabase({ driver: 'pglite', dataDir }, () => {})
  t.teardown(() => second.close())
  t.equal(await second.pendingMigrations(), 0)
  t.same((await second.orm.select({ title: tasks.title }).from(tasks)).map((row) => row.title), ['kept'])
  const buffers = await second.orm.execute(sql`show shared_buffers`)
  t.same((buffers as unknown as { rows: unknown[] }).rows, [{ shared_buffers: '128MB' }], "PostgreSQL's buffer cache, unlike in memory")
})

t.test('pglite: each in-memory database starts as a fresh cluster, apart from every other', async (t) => {
  const first = await openDatabase({ driver: 'pglite', dataDir: undefined }, () => {})
  t.teardown(() => first.close())
  await first.migrate()
  await first.orm.insert(tasks).values({ id: '01900000-0000-7000-8000-0000000000ab', user_id: 'u', title: 'only in the first' })
  await first.orm.execute(sql`create table stray (n int)`)

  const second = await openDatabase({ driver: 'pglite', dataDir: undefined }, () => {})
  t.teardown(() => second.close())
  t.equal(await second.pendingMigrations(), MIGRATIONS, 'no migration applied')
  const buffers = await second.orm.execute(sql`show shared_buffers`)
  t.same((buffers as unknown as { rows: unknown[] }).rows, [{ shared_buffers: '16MB' }], 'a small buffer cache over pages in memory')
  const segments = await second.orm.execute(sql`show wal_segment_size`)
  t.same((segments as unknown as { rows: unknown[] }).rows, [{ wal_segment_size: '1MB' }], 'small WAL segments, for a small copy')
  const relations = await second.orm.execute(sql`select count(*)::int as n from pg_class where relname in ('tasks', 'stray')`)
  t.same((relations as unknown as { rows: unknown[] }).rows, [{ n: 0 }], 'none of the tables of the first')
  await second.migrate()
  t.same(await second.orm.select().from(tasks), [], 'no rows of the first one')
  await second.orm.insert(tasks).values({ id: '01900000-0000-7000-8000-0000000000ac', user_id: 'u', title: 'only in the second' })
  t.same((await first.orm.select({ title: tasks.title }).from(tasks)).map((row) => row.title), ['only in the first'], 'and none of its rows reach the first')
})

t.test('pglite: the types Drizzle reads as text still reach it as text, with the parsers set once', async (t) => {
  const database = await openDatabase({ driver: 'pglite', dataDir: undefined }, () => {})
  t.teardown(() => database.close())
  const query = database.orm
    .select({
      at: sql<unknown>`'2026-11-27 10:00:00.123456+00'::timestamptz`.as('at'),
      local: sql<unknown>`'2026-11-27 10:00:00'::timestamp`.as('local'),
      day: sql<unknown>`'2026-11-27'::date`.as('day'),
      span: sql<unknown>`'1 day'::interval`.as('span'),
      days: sql<unknown>`array['2026-11-27'::date]`.as('days'),
    })
    .from(sql`(select) as one`)
    .prepare('pglite_text_types')
  // all() hands back what the driver parsed; Drizzle's own mapping (execute) expects text for these types.
  const [row] = (await (query as unknown as { all(): Promise<Record<string, unknown>[]> }).all()) as [Record<string, unknown>]
  t.same(row, { at: '2026-11-27 10:00:00.123456+00', local: '2026-11-27 10:00:00', day: '2026-11-27', span: '1 day', days: '{2026-11-27}' })
  t.same(await query.execute(), [{ at: '2026-11-27 10:00:00.123456+00', local: '2026-11-27 10:00:00', day: '2026-11-27', span: '1 day', days: '{2026-11-27}' }])
})

t.test('node-postgres: a server that does not answer fails the schema check as unavailable', async (t) => {
  // Nothing listens on port 1: no PostgreSQL server is needed to see this.
  const database = await openDatabase(databaseTarget({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }), () => {})
  t.teardown(() => database.close())
  const error = await database.pendingMigrations().then(() => undefined, (caught: unknown) => caught)
  t.ok(isDatabaseUnavailable(error))
  await t.rejects(buildApp(t, { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }), 'the app does not start')
})
