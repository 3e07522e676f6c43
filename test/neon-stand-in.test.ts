import { randomBytes } from 'node:crypto'
import { neon } from '@neondatabase/serverless'
import { eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/neon-http'
import { integer, pgTable, text } from 'drizzle-orm/pg-core'
import t from 'tap'
import { startNeonStandIn } from './support/neon-stand-in.js'

const url = process.env.TEST_DATABASE_URL ?? ''
const skip = !url && 'TEST_DATABASE_URL not set'

/** The SQLSTATE a rejected query carries: drizzle wraps single queries (cause), the driver and db.batch do not. */
async function sqlState (query: Promise<unknown>): Promise<unknown> {
  try {
    await query
  } catch (error) {
    const { cause, code } = error as { cause?: { code?: unknown }; code?: unknown }
    return cause?.code ?? code
  }
  return 'no error'
}

t.test('the real driver and drizzle work through the stand-in', { skip }, async (t) => {
  const standIn = await startNeonStandIn(url)
  const client = neon(standIn.connectionString)
  // Other test files share the database: a table of our own, dropped at the end.
  const table = `neon_stand_in_${randomBytes(4).toString('hex')}`
  const items = pgTable(table, { id: integer('id').primaryKey(), name: text('name').notNull() })
  await client.query(`create table ${table} (id integer primary key, name text not null)`)
  t.teardown(async () => {
    await client.query(`drop table ${table}`)
    await standIn.close()
  })

  // Runs before drizzle() is called: see below.
  await t.test('tagged template: parameters go out serialized and values come back parsed', async (t) => {
    const at = new Date('2024-01-02T03:04:05.678Z')
    const [row] = await client`
      select ${42}::int as n, ${'text'}::text as s, ${true}::boolean as b, ${at}::timestamptz as at,
             null::text as nothing, ${['a', 'b']}::text[] as tags, ${at}::timestamptz::text as at_text`
    t.same(row, { n: 42, s: 'text', b: true, at, nothing: null, tags: ['a', 'b'], at_text: '2024-01-02 03:04:05.678+00' })
    t.ok(row?.at instanceof Date, 'timestamptz parses to a Date')
  })

  // drizzle() replaces the driver's global parsers for date/time types with identity (drizzle parses them itself),
  // so from here on every neon() client in this process gets those values as PostgreSQL's text, in GMT.
  const db = drizzle({ client })

  t.test('drizzle: execute, typed builders and a batch', async (t) => {
    const result = await db.execute(sql`select 1 as one`)
    t.same(result.rows, [{ one: 1 }])
    t.equal(result.rowCount, 1)
    const at = new Date('2024-01-02T03:04:05.678Z')
    t.same((await db.execute(sql`select ${at}::timestamptz as at`)).rows, [{ at: '2024-01-02 03:04:05.678+00' }],
      'after drizzle(), timestamptz arrives as GMT text')

    await db.insert(items).values({ id: 1, name: 'one' })
    t.same(await db.select().from(items).where(eq(items.id, 1)), [{ id: 1, name: 'one' }])

    const [inserted, selected] = await db.batch([
      db.insert(items).values({ id: 2, name: 'two' }).returning(),
      db.select({ name: items.name }).from(items).where(eq(items.id, 2)),
    ])
    t.same(inserted, [{ id: 2, name: 'two' }])
    t.same(selected, [{ name: 'two' }], 'a later query in a batch sees the earlier one')
  })

  t.test('PostgreSQL errors surface with their SQLSTATE', async (t) => {
    await db.insert(items).values({ id: 3, name: 'three' })
    t.equal(await sqlState(db.insert(items).values({ id: 3, name: 'again' })), '23505', 'unique violation via drizzle')
    t.equal(await sqlState(client`select 1 / ${0}::int`), '22012', 'division by zero via the driver')
  })

  t.test('a batch rolls back wholly when its second query fails', async (t) => {
    const batch = client.transaction([
      client`insert into ${client.unsafe(table)} (id, name) values (${10}, ${'first'})`,
      client`insert into ${client.unsafe(table)} (id, name) values (${10}, ${'duplicate'})`,
    ])
    t.equal(await sqlState(batch), '23505')
    t.same(await db.select().from(items).where(eq(items.id, 10)), [], 'the first insert was rolled back')
  })

  t.test('a multi-statement string is refused as Neon refuses it', async (t) => {
    t.equal(await sqlState(client.query('select 1; select 2')), '42601')
  })

  t.test('wire format of the /sql endpoint', async (t) => {
    const post = (body: unknown, headers: Record<string, string>) =>
      fetch(standIn.endpoint, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'Neon-Raw-Text-Output': 'true', ...headers },
      })

    const objects = await post({ query: 'select $1::int as one', params: ['1'] }, { 'Neon-Array-Mode': 'false' })
    t.equal(objects.status, 200)
    t.same(await objects.json(), {
      command: 'SELECT',
      rowCount: 1,
      rows: [{ one: '1' }],
      fields: [{ name: 'one', dataTypeID: 23, tableID: 0, columnID: 0, dataTypeSize: 4, dataTypeModifier: -1, format: 'text' }],
      rowAsArray: false,
    }, 'without array mode, rows are objects of raw text')

    const arrays = await post({ queries: [{ query: 'select 1', params: [] }, { query: 'select 2', params: [], arrayMode: false }] }, {
      'Neon-Array-Mode': 'true',
      'Neon-Batch-Isolation-Level': 'Serializable',
      'Neon-Batch-Read-Only': 'true',
    })
    const { results } = (await arrays.json()) as { results: { rows: unknown[]; rowAsArray: boolean }[] }
    t.same(results.map(({ rows, rowAsArray }) => ({ rows, rowAsArray })), [
      { rows: [['1']], rowAsArray: true },
      { rows: [{ '?column?': '2' }], rowAsArray: false },
    ], 'a query\'s arrayMode overrides the header')

    const readOnly = await post({ queries: [{ query: `insert into ${table} values (99, 'x')`, params: [] }] }, {
      'Neon-Batch-Read-Only': 'true',
    })
    t.equal(readOnly.status, 400)
    t.match(await readOnly.json(), { code: '25006', detail: null, constraint: null }, 'a read-only batch refuses writes')

    const badLevel = await post({ queries: [] }, { 'Neon-Batch-Isolation-Level': 'Chaos' })
    t.equal(badLevel.status, 400)
  })
})

t.test('after close() queries reject instead of hanging', { skip, timeout: 10_000 }, async (t) => {
  const standIn = await startNeonStandIn(url)
  const client = neon(standIn.connectionString)
  t.same(await client`select 1 as one`, [{ one: 1 }], 'answers while open')
  await standIn.close()
  await t.rejects(client`select 1 as one`, { name: 'NeonDbError', message: /Error connecting to database/ })
})
