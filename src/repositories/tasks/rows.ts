import type { PgColumn, PgPreparedQuery, PreparedQueryConfig } from 'drizzle-orm/pg-core'
import { FEED_TASK_COLUMNS, TASK_COLUMNS } from './columns.js'
import type { FeedTask, Task } from './types.js'

/** A row as every driver returns it unmapped: timestamps in PostgreSQL's text form. */
export type RowOf<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] }
export type TaskRow = RowOf<Task>

/**
 * Runs a prepared statement and returns its rows as the driver parsed them, keyed by column name, without
 * Drizzle's per-row mapping. Selected through a subquery or a CTE, as pages and writes are, each field reaches
 * that mapping through Drizzle's alias proxies, at about half a microsecond a field: 150 µs for a page of 20
 * tasks, more than all the rest of the request (`BENCH_PROFILE=1 npm run bench`). The prepared queries of all
 * three drivers have `all()`; the type they share does not declare it. Every row read this way is mapped by one
 * of the mappers below, made from the table's columns.
 */
export function rowsOf<Row> (prepared: PgPreparedQuery<PreparedQueryConfig>, values: Record<string, unknown>): Promise<Row[]> {
  return (prepared as unknown as { all(values: Record<string, unknown>): Promise<Row[]> }).all(values)
}

const dateOf = (text: string | null) => (text === null ? null : new Date(text))
const bigintOf = (text: string | number | bigint | null) => (text === null ? null : BigInt(text))

/** How a column's driver value becomes its value: by the column's data type, as Drizzle's own mapping does. */
const DECODERS: Partial<Record<PgColumn['dataType'], string>> = { date: 'dateOf', bigint: 'bigintOf' }

/**
 * A row mapper for these columns, generated once: a function returning one object literal with a property per
 * column, as a mapper written by hand would. Built at startup, so a row costs what the hand-written literal cost
 * (one allocation of a fixed shape), with no per-row look-up of the columns; and a column added to the table is
 * mapped without an edit here.
 */
function mapperOf<Columns extends Record<string, PgColumn>, T> (columns: Columns): (row: RowOf<T>) => T {
  const properties = Object.entries(columns).map(([name, column]) => {
    const read = `row[${JSON.stringify(name)}]`
    const decoder = DECODERS[column.dataType]
    return `${JSON.stringify(name)}: ${decoder === undefined ? read : `${decoder}(${read})`}`
  })
  // eslint-disable-next-line no-new-func -- generated once, from the table's column names
  return new Function('dateOf', 'bigintOf', `return (row) => ({ ${properties.join(', ')} })`)(dateOf, bigintOf) as (row: RowOf<T>) => T
}

/** A task from its row (or from the JSON of its row, whose timestamps are text as well). */
export const taskOf: (row: TaskRow) => Task = mapperOf<typeof TASK_COLUMNS, Task>(TASK_COLUMNS)

/** A task in the change feed, from its row: without its version. */
export const feedTaskOf: (row: RowOf<FeedTask>) => FeedTask = mapperOf<typeof FEED_TASK_COLUMNS, FeedTask>(FEED_TASK_COLUMNS)
