import { and, eq, getTableColumns, isNull, sql, type SQL } from 'drizzle-orm'
import { tasks } from '../../db/schema.js'
import type { ExpectedVersions } from './types.js'

/** The columns a task has on the wire; the change feed's and the series' bookkeeping stays in the database. */
const { deleted_at: _deletedAt, change_xid: _changeXid, recurrence_day: _recurrenceDay, ...TASK_COLUMNS } = getTableColumns(tasks)
export { TASK_COLUMNS }

/** The feed carries no versions: an ETag comes with a task read or written by itself. */
const { version: _version, ...FEED_TASK_COLUMNS } = TASK_COLUMNS
export { FEED_TASK_COLUMNS }

/** Rows that are tasks, not tombstones. */
export const live = isNull(tasks.deleted_at)

/** A named placeholder, filled from a prepared statement's values. */
export const slot = (name: string) => sql.placeholder(name)

/**
 * The caller's task with this id and, when the write is conditional, with one of the expected versions: bound as
 * one int[] literal (see targetValues), so that any number of If-Match tags is one statement.
 */
export function target (conditional: boolean): SQL | undefined {
  return and(
    eq(tasks.id, slot('id')),
    eq(tasks.user_id, slot('userId')),
    live,
    conditional ? sql`${tasks.version} = any(${slot('expected')}::int[])` : undefined
  )
}

/** The values of target's placeholders; versions are integers (src/http/etag.ts), so the literal needs no quoting. */
export function targetValues (userId: string, id: string, expected: ExpectedVersions): Record<string, unknown> {
  return expected === undefined ? { userId, id } : { userId, id, expected: `{${expected.join(',')}}` }
}
