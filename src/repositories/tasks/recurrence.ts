import { and, getTableColumns, is, isNotNull, isNull, lt, not, SQL, sql, type SQLWrapper } from 'drizzle-orm'
import type { PgColumn, PgUpdateSetSource } from 'drizzle-orm/pg-core'
import type { Orm } from '../../db/database.js'
import { tasks } from '../../db/schema.js'
import { slot, target, TASK_COLUMNS } from './columns.js'
import { fieldValue, seriesDayWritten, type FieldsShape } from './write-fields.js'
import type { TaskFields } from './types.js'
import type { WriteStatement } from './write-statements.js'

const COLUMNS = getTableColumns(tasks)
type Column = keyof typeof COLUMNS

/**
 * What a next occurrence starts afresh with (its column default, or null) rather than copying from the task:
 * its state and its bookkeeping. Its id, due date and series day are computed; every other column, a column
 * added later included, is copied from the task as the write leaves it.
 */
const FRESH: Column[] = ['completed', 'completed_at', 'next_task_id', 'version', 'created_at', 'updated_at', 'deleted_at', 'change_xid']

/** A column's default as SQL in a select list, where `default` cannot be written. */
function defaultOf (column: PgColumn): SQL {
  const value: unknown = column.default
  if (value === undefined) return sql`null`
  if (is(value, SQL)) return value
  if (typeof value === 'boolean' || typeof value === 'number') return sql.raw(String(value))
  throw new Error(`the recurrence spawn cannot write the default of column ${column.name}`)
}

const FRESH_VALUES = Object.fromEntries(FRESH.map((name) => [name, defaultOf(COLUMNS[name])]))

/** The series ends in year 9999: a date past it cannot be written. */
const END_OF_SERIES = sql`'9999-01-01T00:00:00Z'`

/**
 * A write that completes the task when it was pending and, if the task recurs and has not spawned before,
 * creates its next occurrence and links it in `next_task_id`, all in one statement (Neon's HTTP driver has no
 * transactions). `target` locks the row, so of two concurrent completions the second waits, then sees the
 * first's `next_task_id` and spawns nothing: exactly once. The occurrence copies the task as this write leaves
 * it (the fields in `changes` override the stored ones), due one period later in UTC, at the same time of day.
 * A monthly or yearly series keeps its day of month (`recurrence_day`), clamped to the length of the month
 * that lacks it: Jan 31 → Feb 28 → Mar 31; Feb 29, 2028 → Feb 28, 2029 → … → Feb 29, 2032. A series from
 * before the day was kept falls on its due date's day. The series ends in year 9999.
 */
export function completing (orm: Orm, set: PgUpdateSetSource<typeof tasks>, changes: FieldsShape, conditional: boolean): WriteStatement {
  const locked = orm.$with('target').as(orm.select().from(tasks).where(target(conditional)).for('update'))
  const stored = locked as unknown as Record<Column, SQLWrapper>
  // A field as the write leaves it: the one it sets (typed, as a bare placeholder has no type here), or the stored one.
  const field = (name: Column): SQLWrapper =>
    changes[name as keyof TaskFields] === undefined
      ? stored[name]
      : sql`${fieldValue(changes, name as keyof TaskFields)}::${sql.raw(COLUMNS[name].getSQLType())}`
  const recurrence = field('recurrence')
  const dueDate = field('due_date')
  const seriesDay = seriesDayWritten(changes, stored.due_date, stored.recurrence_day) ?? stored.recurrence_day
  // The due date in UTC, the series' day, and the first day of the month the next one falls in. Drizzle names a
  // subquery's fields, and the task's inside it, without a qualifier: the names are unique in the statement.
  const due = orm
    .select({
      local: sql<Date>`utc.local`.as('due_local'),
      day: sql<number>`coalesce(${seriesDay}, extract(day from utc.local))::smallint`.as('series_day'),
      period: sql<Date>`date_trunc('month', utc.local)
        + case ${recurrence} when 'yearly' then interval '1 year' else interval '1 month' end`.as('period_start'),
    })
    .from(sql`(select (${dueDate}) at time zone 'UTC' as local) as utc`)
    .as('due')
  const nextDueDate = sql`(case ${recurrence}
    when 'daily' then ${due.local} + interval '1 day'
    when 'weekly' then ${due.local} + interval '7 days'
    else ${due.period}
      + make_interval(days => least(${due.day}, extract(day from ${due.period} + interval '1 month' - interval '1 day'))::int - 1)
      + (${due.local} - date_trunc('day', ${due.local}))
  end) at time zone 'UTC'`
  const computed: Partial<Record<Column, SQLWrapper>> = {
    id: sql`${slot('spawnId')}::uuid`,
    due_date: nextDueDate,
    recurrence_day: due.day,
    ...FRESH_VALUES,
  }
  // Every column of the table, in its order, as an insert from a select names them.
  const occurrence = Object.fromEntries((Object.keys(COLUMNS) as Column[]).map((name) => [name, computed[name] ?? field(name)]))
  const spawned = orm.$with('spawned').as(
    orm
      .insert(tasks)
      .select(
        orm
          .select(occurrence as Record<Column, SQL>)
          .from(locked)
          .crossJoinLateral(due)
          .where(and(not(stored.completed), isNotNull(recurrence), isNull(stored.next_task_id), lt(dueDate, END_OF_SERIES))) as never
      )
      .returning({ id: tasks.id })
  )
  const statement = orm
    .update(tasks)
    .set({ ...set, next_task_id: sql`coalesce(${tasks.next_task_id}, (${orm.select({ id: spawned.id }).from(spawned)}))` })
    .where(target(conditional))
    .returning(TASK_COLUMNS)
  return { with: [locked, spawned], statement }
}
