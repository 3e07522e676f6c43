import { sql, type Param, type SQL, type SQLWrapper } from 'drizzle-orm'
import { tasks } from '../../db/schema.js'
import { slot } from './columns.js'
import type { TaskFields } from './types.js'

/**
 * What a write's SQL depends on in the fields it is given, values aside: which fields, in a fixed order, and
 * which of them are null; for `completed`, its value (completing a task may create its next occurrence).
 */
export type FieldsShape = { [K in keyof TaskFields]?: K extends 'completed' ? boolean : 'value' | 'null' }

/** The shape of these fields: part of a write's shape. */
export function fieldsShape (fields: Partial<TaskFields>): FieldsShape {
  const shape: Record<string, boolean | 'value' | 'null'> = {}
  for (const name of (Object.keys(fields) as (keyof TaskFields)[]).sort()) {
    const value = fields[name]
    if (value === undefined) continue
    shape[name] = name === 'completed' ? (value as boolean) : value === null ? 'null' : 'value'
  }
  return shape as FieldsShape
}

/** The fields a shape sets, in its order. */
export const givenFields = (shape: FieldsShape) => Object.keys(shape) as (keyof TaskFields)[]

/**
 * A field's value in a prepared write's SQL: a placeholder that the column encodes (arrays and dates as
 * PostgreSQL reads them), or SQL null, which column encoders do not take.
 */
export function fieldValue (shape: FieldsShape, name: keyof TaskFields): SQL | Param {
  return shape[name] === 'null' ? sql`null` : sql.param(slot(name), tasks[name])
}

/** The fields to insert or set: insert and set wrap each placeholder with its column's encoder themselves. */
export const fieldValues = (shape: FieldsShape) =>
  Object.fromEntries(givenFields(shape).map((name) => [name, shape[name] === 'null' ? sql`null` : slot(name)]))

/** The placeholder value of a write's series day (see seriesDayWritten): the due date's day of month in UTC. */
export function seriesDayValue (fields: Partial<TaskFields>): { recurrenceDay?: number } {
  return fields.due_date ? { recurrenceDay: fields.due_date.getUTCDate() } : {}
}

/**
 * The series' day of month as a write leaves it, from the row before the write (its `due_date` and
 * `recurrence_day`): the new due date's day when the write moves the due date, else the stored day (so a client
 * sending the due date it read, Feb 28 of a series on the 31st, does not move the series); null without a due
 * date. Undefined when the write leaves the due date alone.
 */
export function seriesDayWritten (shape: FieldsShape, storedDueDate: SQLWrapper, storedDay: SQLWrapper): SQL | undefined {
  if (shape.due_date === undefined) return undefined
  if (shape.due_date === 'null') return sql`null`
  return sql`case when ${storedDueDate} is distinct from ${fieldValue(shape, 'due_date')}
    then ${slot('recurrenceDay')}::smallint else ${storedDay} end`
}
