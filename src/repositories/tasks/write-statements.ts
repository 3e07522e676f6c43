import { or, sql, type SQLWrapper, type WithSubquery } from 'drizzle-orm'
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core'
import type { Orm } from '../../db/database.js'
import { violatedConstraint } from '../../db/errors.js'
import { currentTransactionId, RECURRENCE_NEEDS_DUE_DATE, tasks } from '../../db/schema.js'
import { slot, target, TASK_COLUMNS } from './columns.js'
import { completing } from './recurrence.js'
import { RecurrenceWithoutDueDateError } from './types.js'
import { fieldValue, fieldValues, givenFields, seriesDayWritten, type FieldsShape } from './write-fields.js'

/**
 * What a write's statement depends on, values aside: one prepared statement per shape. It is the statement
 * cache's key and all that writeStatement reads, so no input can shape the SQL without being part of the key.
 */
export type WriteShape =
  | { write: 'create'; fields: FieldsShape }
  | { write: 'update'; fields: FieldsShape; conditional: boolean }
  | { write: 'toggle'; conditional: boolean }
  | { write: 'delete'; conditional: boolean }

/** A write's statement (an insert or update returning TASK_COLUMNS) and the common table expressions it reads. */
export interface WriteStatement {
  with: WithSubquery[]
  statement: SQLWrapper
}

/** What a write sets: values, or SQL computed from the row being written. */
type UpdateSet = PgUpdateSetSource<typeof tasks>

/** What every change to a task sets: its time, its next version, and its place in the change feed. */
const CHANGED = {
  updated_at: sql`now()`,
  version: sql`${tasks.version} + 1`,
  change_xid: currentTransactionId,
} satisfies UpdateSet

/** What toggling sets. */
const TOGGLE = {
  completed: sql`not ${tasks.completed}`,
  completed_at: sql`case when ${tasks.completed} then null else now() end`,
  ...CHANGED,
} satisfies UpdateSet

/** What deleting sets: the row stays, as a tombstone in the change feed. */
export const TOMBSTONE = { deleted_at: sql`now()`, ...CHANGED } satisfies UpdateSet

/** The SQL of a write of this shape, with placeholders for its values. */
export function writeStatement (orm: Orm, shape: WriteShape): WriteStatement {
  switch (shape.write) {
    case 'create':
      return inserting(orm, shape.fields)
    case 'update':
      return changing(orm, shape.fields, shape.conditional)
    case 'toggle':
      return completing(orm, TOGGLE, {}, shape.conditional)
    case 'delete':
      return updating(orm, TOMBSTONE, shape.conditional)
  }
}

function inserting (orm: Orm, fields: FieldsShape): WriteStatement {
  return {
    with: [],
    // `title` is named first for the insert's type, which requires one; fieldValues sets it again.
    statement: orm
      .insert(tasks)
      .values({
        title: slot('title'),
        ...fieldValues(fields),
        ...(fields.due_date === 'value' && { recurrence_day: slot('recurrenceDay') }),
        id: slot('id'),
        user_id: slot('userId'),
        completed_at: fields.completed ? sql`now()` : null,
      })
      .returning(TASK_COLUMNS),
  }
}

/**
 * Applies the given fields. `updated_at`, the version and the feed position move only when a value really
 * changes, so a retried write is a no-op; `completed_at` is set when `completed` turns true and cleared when it
 * turns false. Only a write that may complete the task can create a next occurrence.
 */
function changing (orm: Orm, changes: FieldsShape, conditional: boolean): WriteStatement {
  const changed = or(...givenFields(changes).map((field) => sql`${tasks[field]} is distinct from ${fieldValue(changes, field)}`))
  const set = {
    ...fieldValues(changes),
    ...(changes.completed !== undefined && {
      completed_at: changes.completed ? sql`case when ${tasks.completed} then ${tasks.completed_at} else now() end` : null,
    }),
    ...(changes.due_date !== undefined && { recurrence_day: seriesDayWritten(changes, tasks.due_date, tasks.recurrence_day) }),
    updated_at: sql`case when ${changed} then now() else ${tasks.updated_at} end`,
    version: sql`case when ${changed} then ${tasks.version} + 1 else ${tasks.version} end`,
    change_xid: sql`case when ${changed} then ${currentTransactionId} else ${tasks.change_xid} end`,
  }
  return changes.completed === true ? completing(orm, set, changes, conditional) : updating(orm, set, conditional)
}

function updating (orm: Orm, set: UpdateSet, conditional: boolean): WriteStatement {
  return { with: [], statement: orm.update(tasks).set(set).where(target(conditional)).returning(TASK_COLUMNS) }
}

/** A write's error as the repository reports it: a recurrence left without a due date is the caller's. */
export function recurrenceWithoutDueDate (error: unknown): never {
  if (violatedConstraint(error) === RECURRENCE_NEEDS_DUE_DATE) {
    throw new RecurrenceWithoutDueDateError('recurrence needs a due_date', { cause: error })
  }
  throw error
}
