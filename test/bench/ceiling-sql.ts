/**
 * The SQL the repository (src/repositories/tasks.ts) sends through Drizzle, written out by hand for the
 * ceiling: the same statements, byte for byte up to whitespace, so the ceiling measures the same database work.
 * They were read off the API's own statement log (LOG_LEVEL=trace); run.ts compares them with that log at
 * every run and warns when the repository has moved on, since the ceiling must then be updated here
 * (test/ceiling-sql.test.ts checks the same on every test run). The column lists come from the table, so a new
 * column needs no edit here.
 */
import { getTableColumns } from 'drizzle-orm'
import { tasks } from '../../src/db/schema.js'
import { TASK_COLUMNS } from '../../src/repositories/tasks/columns.js'

/** A task's wire columns, in the table's order, as the repository selects them. */
const COLUMNS = Object.keys(TASK_COLUMNS) as (keyof typeof TASK_COLUMNS)[]

/** Every column of the table, as an insert lists them: the task's, with the series' day and the change feed's bookkeeping. */
const TABLE_COLUMNS = Object.keys(getTableColumns(tasks)) as (keyof typeof tasks.$inferSelect)[]

const quoted = (names: readonly string[], table?: string) => names.map((name) => (table ? `"${table}"."${name}"` : `"${name}"`)).join(', ')
const RETURNING = `returning ${quoted(COLUMNS)}`
/** The repository runs every write as `with "written" as (<write> returning …) select … from "written"`. */
const selectWritten = `select ${quoted(COLUMNS)} from "written"`

export type Sort = 'created' | 'updated' | 'title' | 'due_date' | 'priority'
export type Order = 'asc' | 'desc'
export type Status = 'all' | 'pending' | 'completed'

export const DEFAULT_ORDER: Record<Sort, Order> = { created: 'desc', updated: 'desc', title: 'asc', due_date: 'asc', priority: 'desc' }

const SORT_KEYS: Record<Sort, string> = {
  created: '"tasks"."created_at"',
  updated: '"tasks"."updated_at"',
  title: 'lower("tasks"."title")',
  due_date: '"tasks"."due_date"',
  priority: '(case "tasks"."priority" when \'high\' then 3 when \'medium\' then 2 else 1 end)',
}

export interface ListFilters {
  status: Status
  priority: string[] | undefined
  sort: Sort
  order: Order
}

export interface Statement {
  /** The prepared statement's name: one per distinct text. */
  name: string
  text: string
  values: unknown[]
}

/**
 * One page plus the count of every matching task, in one statement: a count subquery left-joined laterally to
 * the keyset page (here always the first page: the benchmark never sends a cursor).
 */
export function listStatement (userId: string, filters: ListFilters, limit: number): Statement {
  const values: unknown[] = []
  const param = (value: unknown) => `$${values.push(value)}`
  const where = () => {
    const conditions = [`"tasks"."user_id" = ${param(userId)}`, '"tasks"."deleted_at" is null']
    if (filters.status !== 'all') conditions.push(`"tasks"."completed" = ${param(filters.status === 'completed')}`)
    // Any number of priorities is one array parameter: a text[] literal.
    if (filters.priority !== undefined) conditions.push(`"tasks"."priority" = any(${param(`{${filters.priority.map((priority) => `"${priority}"`).join(',')}}`)}::text[])`)
    return `(${conditions.join(' and ')})`
  }
  const key = SORT_KEYS[filters.sort]
  const direction = filters.sort === 'due_date' ? `${filters.order} nulls last` : filters.order
  const counted = `select count(*) as "total" from "tasks" where ${where()}`
  const page =
    `select ${quoted(COLUMNS)}, (${key})::text as "sort_key" from "tasks" where ${where()} ` +
    `order by ${key} ${direction}, "tasks"."id" ${filters.order} limit ${param(limit + 1)}`
  const text = `select "total", ${quoted(COLUMNS, 'page')}, "sort_key" from (${counted}) "counted" left join lateral (${page}) "page" on true`
  const name = `list_${filters.status}_${filters.priority === undefined ? 'any' : 'priorities'}_${filters.sort}_${filters.order}`
  return { name, text, values }
}

export function getStatement (userId: string, id: string): Statement {
  return {
    name: 'get',
    text: `select ${quoted(COLUMNS)} from "tasks" where ("tasks"."id" = $1 and "tasks"."user_id" = $2 and "tasks"."deleted_at" is null)`,
    values: [id, userId],
  }
}

export interface NewTask {
  title: string
  description?: string | null
  completed?: boolean
  priority?: string
  tags?: string[]
  due_date?: Date | null
}

/** Drizzle writes `default` for each column the request left out, so each combination of fields has its own text. */
export function createStatement (id: string, userId: string, task: NewTask): Statement {
  const values: unknown[] = []
  const param = (value: unknown) => `$${values.push(value)}`
  // A due date sets the series' day of month (UTC).
  const given: Record<string, unknown> = {
    ...task,
    ...(task.due_date && { recurrence_day: task.due_date.getUTCDate() }),
    id,
    user_id: userId,
  }
  const valueOf = (column: (typeof TABLE_COLUMNS)[number]) => {
    if (column === 'completed_at') return task.completed ? 'now()' : param(null)
    return given[column] === undefined ? 'default' : param(given[column])
  }
  const text = `with "written" as (insert into "tasks" (${quoted(TABLE_COLUMNS)}) values (${TABLE_COLUMNS.map(valueOf).join(', ')}) ${RETURNING}) ${selectWritten}`
  const name = `create_${COLUMNS.map((column) => (given[column] === undefined ? '0' : '1')).join('')}_${task.completed ? 1 : 0}`
  return { name, text, values }
}

/**
 * `PATCH …/complete` with `{"completed": true}`: sets the flag, moves `updated_at` and `version` only when it
 * changes, and, when this completes a recurring task for the first time, inserts its next occurrence and links
 * it, all in one statement; a monthly or yearly series keeps its day of month. (`{"completed": false}` is a
 * plain update in the repository; the benchmark never sends it.)
 */
export function completeStatement (userId: string, id: string, nextId: string): Statement {
  const text = `with "target" as (select ${quoted(TABLE_COLUMNS)} from "tasks" where ("tasks"."id" = $1 and "tasks"."user_id" = $2 and "tasks"."deleted_at" is null) for update), "spawned" as (
      insert into "tasks" (${quoted(TABLE_COLUMNS)})
      select ${TABLE_COLUMNS.map((column) => OCCURRENCE[column] ?? `"target"."${column}"`).join(', ')}
      from "target" cross join lateral (select utc.local as "due_local",
          coalesce("recurrence_day", extract(day from utc.local))::smallint as "series_day",
          date_trunc('month', utc.local) + case "recurrence" when 'yearly' then interval '1 year' else interval '1 month' end as "period_start"
        from (select ("target"."due_date") at time zone 'UTC' as local) as utc) "due"
      where (not "target"."completed" and "target"."recurrence" is not null and "target"."next_task_id" is null
        and "target"."due_date" < '9999-01-01T00:00:00Z')
      returning "id"), "written" as (update "tasks" set "completed" = $4, "completed_at" = case when "tasks"."completed" then "tasks"."completed_at" else now() end, "next_task_id" = coalesce("tasks"."next_task_id", ((select "id" from "spawned"))), "version" = case when "tasks"."completed" is distinct from $5 then "tasks"."version" + 1 else "tasks"."version" end, "updated_at" = case when "tasks"."completed" is distinct from $6 then now() else "tasks"."updated_at" end, "change_xid" = case when "tasks"."completed" is distinct from $7 then pg_current_xact_id()::text::bigint else "tasks"."change_xid" end where ("tasks"."id" = $8 and "tasks"."user_id" = $9 and "tasks"."deleted_at" is null) ${RETURNING}) ${selectWritten}`
  return { name: 'complete', text, values: [id, userId, nextId, true, true, true, true, id, userId] }
}

/**
 * The next occurrence's columns that are not copied from the task: its id, due date and series day, computed,
 * and its state and bookkeeping, fresh. Any other column is copied.
 */
const OCCURRENCE: Partial<Record<(typeof TABLE_COLUMNS)[number], string>> = {
  id: '$3::uuid',
  completed: 'false',
  completed_at: 'null',
  due_date: `(case "target"."recurrence"
    when 'daily' then "due_local" + interval '1 day'
    when 'weekly' then "due_local" + interval '7 days'
    else "period_start" + make_interval(days => least("series_day", extract(day from "period_start" + interval '1 month' - interval '1 day'))::int - 1)
      + ("due_local" - date_trunc('day', "due_local"))
  end) at time zone 'UTC'`,
  next_task_id: 'null',
  recurrence_day: '"series_day"',
  version: '1',
  created_at: 'now()',
  updated_at: 'now()',
  deleted_at: 'null',
  change_xid: 'pg_current_xact_id()::text::bigint',
}

/** Whitespace-insensitive form, to compare with the statements the API logs. */
export function normalizeSql (text: string): string {
  return text.replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')').trim()
}
