import { and, arrayContains, count, eq, getTableColumns, gte, inArray, lt, ne, or, sql, type SQL } from 'drizzle-orm'
import { v7 as uuidv7 } from 'uuid'
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core'
import type { Orm } from '../db/database.js'
import { sqlState, violatedConstraint } from '../db/errors.js'
import { priorityRank, PRIORITIES, RECURRENCE_NEEDS_DUE_DATE, tasks, type TaskRow } from '../db/schema.js'

export type Task = TaskRow
/** What a write sets: values, or SQL computed from the row being written. */
type UpdateSet = PgUpdateSetSource<typeof tasks>

export type TaskFields = Pick<Task, 'title' | 'description' | 'completed' | 'priority' | 'tags' | 'due_date' | 'recurrence'>

export interface TaskStats {
  total: number
  completed: number
  pending: number
  overdue: number
  by_priority: Record<Task['priority'], number>
}

/**
 * `If-Match`: the versions (ETags) the client accepts; the write happens only if the stored task has one of them,
 * checked in the write's own statement. Undefined: no condition.
 */
export type ExpectedVersions = number[] | undefined

/** A listing cursor whose position the database cannot read as its sort's type. */
export class InvalidCursorError extends Error {}

/** The write would leave a recurrence without a due date; the database's check constraint caught it. */
export class RecurrenceWithoutDueDateError extends Error {}

export interface ListOptions {
  status?: 'all' | 'pending' | 'completed'
  /** Any of these priorities. */
  priority?: Task['priority'][]
  /** All of these tags (lower-case). */
  tag?: string[]
  /** Case-insensitive text in the title or the description; `%` and `_` are literal. */
  q?: string
  /** Due strictly before. */
  due_before?: Date
  /** Due at or after. */
  due_after?: Date
  sort?: 'created' | 'updated' | 'title' | 'due_date' | 'priority'
  order?: 'asc' | 'desc'
  /** Page size. */
  limit?: number
  /** Where the previous page ended. */
  after?: Cursor
}

/** A position in a listing: the last row's sort key (as text, null for no due date) and id. */
export interface Cursor {
  key: string | null
  id: string
}

export interface Page {
  tasks: Task[]
  /** Every task matching the filters, whatever the cursor. */
  total: number
  /** Where the next page starts; absent on the last page. */
  next?: Cursor
}

/** Each order's key and the SQL type its cursor value is read back as; ties always break on `id`. */
const SORT_KEYS = {
  created: { key: sql`${tasks.created_at}`, type: 'timestamptz' },
  updated: { key: sql`${tasks.updated_at}`, type: 'timestamptz' },
  title: { key: sql`lower(${tasks.title})`, type: 'text' },
  due_date: { key: sql`${tasks.due_date}`, type: 'timestamptz' },
  priority: { key: priorityRank(tasks.priority), type: 'integer' },
} as const

const DEFAULT_LIMIT = 100

/** Newest, and most important, first; titles and due dates soonest first. */
export const DEFAULT_ORDER = { created: 'desc', updated: 'desc', title: 'asc', due_date: 'asc', priority: 'desc' } as const

/** `%`, `_` and the escape character itself are literal in a search. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (character) => `\\${character}`)}%`

/**
 * Every task query. Each statement is scoped by the caller's user id, and each write is one statement: the Neon
 * HTTP driver has no interactive transactions, and one statement is atomic on every driver.
 */
export class TaskRepository {
  constructor(private readonly orm: Orm) {}

  /**
   * One page, by keyset (never OFFSET), so pages stay stable while tasks are added or removed, and the count of
   * all matching tasks, in one statement. Tasks without a due date come last in both orders.
   */
  async list(userId: string, options: ListOptions): Promise<Page> {
    const { status = 'all', priority, tag, q, due_before, due_after, sort = 'created', order = DEFAULT_ORDER[sort] } = options
    const { limit = DEFAULT_LIMIT, after } = options
    const pattern = q === undefined ? undefined : likePattern(q)
    const { key, type } = SORT_KEYS[sort]
    const filters = and(
      eq(tasks.user_id, userId),
      status === 'all' ? undefined : eq(tasks.completed, status === 'completed'),
      priority === undefined ? undefined : inArray(tasks.priority, priority),
      tag === undefined ? undefined : arrayContains(tasks.tags, tag),
      pattern === undefined ? undefined : sql`(${tasks.title} ilike ${pattern} escape '\\' or ${tasks.description} ilike ${pattern} escape '\\')`,
      due_before === undefined ? undefined : lt(tasks.due_date, due_before),
      due_after === undefined ? undefined : gte(tasks.due_date, due_after),
    )
    const beyond = sql.raw(order === 'asc' ? '>' : '<')
    const keyed = (cursor: Cursor) => sql`(${key}, ${tasks.id}) ${beyond} (${cursor.key}::${sql.raw(type)}, ${cursor.id}::uuid)`
    // Only due dates can be null; those rows come after every dated one, ordered by id.
    const afterCursor =
      after === undefined
        ? undefined
        : after.key === null
          ? sql`${tasks.due_date} is null and ${tasks.id} ${beyond} ${after.id}::uuid`
          : sort === 'due_date'
            ? sql`(${tasks.due_date} is null or ${keyed(after)})`
            : keyed(after)
    // Spelled out only where nulls exist: on a NOT NULL key, `nulls last` would stop PostgreSQL using the index order.
    const direction = sql.raw(sort === 'due_date' ? `${order} nulls last` : order)
    // The count and the page in one statement: the page is a keyset range that stops at its limit, and the
    // lateral join still yields the count when the page is empty.
    const counted = this.orm.select({ total: sql<number>`count(*)`.mapWith(Number).as('total') }).from(tasks).where(filters).as('counted')
    const page = this.orm
      .select({ ...getTableColumns(tasks), sort_key: sql<string | null>`(${key})::text`.as('sort_key') })
      .from(tasks)
      .where(and(filters, afterCursor))
      .orderBy(sql`${key} ${direction}`, sql`${tasks.id} ${sql.raw(order)}`)
      .limit(limit + 1)
      .as('page')
    const rows = await this.orm
      .select()
      .from(counted)
      .leftJoinLateral(page, sql`true`)
      .catch((error: unknown) => {
        // A cursor is the client's text: a key its sort's type cannot read (SQLSTATE class 22) is a bad cursor.
        throw after !== undefined && sqlState(error)?.startsWith('22') ? new InvalidCursorError('unreadable cursor key', { cause: error }) : error
      })
    const total = rows[0]!.counted.total
    const found = rows.flatMap((row) => (row.page === null ? [] : [row.page]))
    const tasksOnPage = found.slice(0, limit).map(({ sort_key: _key, ...task }) => task)
    const last = found.length > limit ? found[limit - 1] : undefined
    return { tasks: tasksOnPage, total, ...(last && { next: { key: last.sort_key, id: last.id } }) }
  }

  async create(userId: string, fields: Pick<TaskFields, 'title'> & Partial<TaskFields>): Promise<Task> {
    const [task] = await this.orm
      .insert(tasks)
      .values({ ...fields, id: uuidv7(), user_id: userId, completed_at: fields.completed ? sql`now()` : null })
      .returning()
      .catch(recurrenceWithoutDueDate)
    return task!
  }

  async get(userId: string, id: string): Promise<Task | undefined> {
    const [task] = await this.orm.select().from(tasks).where(this.owned(userId, id))
    return task
  }

  /**
   * Applies the given fields. `updated_at` moves only when a value really changes, so a retried write is a no-op;
   * `completed_at` is set when `completed` turns true and cleared when it turns false.
   */
  async update(userId: string, id: string, changes: Partial<TaskFields>, expected?: ExpectedVersions): Promise<Task | undefined> {
    const changed = or(
      ...Object.entries(changes).map(([field, value]) => {
        const column = tasks[field as keyof TaskFields]
        // sql.param with the column encodes arrays and dates as the column does, not as a list of parameters.
        return sql`${column} is distinct from ${sql.param(value, column)}`
      }),
    )
    const set = {
      ...changes,
      ...(changes.completed !== undefined && {
        completed_at: changes.completed ? sql`case when ${tasks.completed} then ${tasks.completed_at} else now() end` : null,
      }),
      updated_at: sql`case when ${changed} then now() else ${tasks.updated_at} end`,
      version: sql`case when ${changed} then ${tasks.version} + 1 else ${tasks.version} end`,
    }
    // Only a write that may complete the task can create a next occurrence.
    return changes.completed === true ? this.completing(userId, id, set, changes, expected) : this.write(userId, id, set, expected)
  }

  /** Flips `completed` in one statement, so two concurrent toggles cannot both read the same old value. */
  async toggleCompleted(userId: string, id: string, expected?: ExpectedVersions): Promise<Task | undefined> {
    const set = {
      completed: sql`not ${tasks.completed}`,
      completed_at: sql`case when ${tasks.completed} then null else now() end`,
      updated_at: sql`now()`,
      version: sql`${tasks.version} + 1`,
    }
    return this.completing(userId, id, set, {}, expected)
  }

  private async write(userId: string, id: string, set: UpdateSet, expected: ExpectedVersions): Promise<Task | undefined> {
    const [task] = await this.orm
      .update(tasks)
      .set(set)
      .where(this.owned(userId, id, expected))
      .returning()
      .catch(recurrenceWithoutDueDate)
    return task
  }

  /**
   * A write that completes the task when it was pending and, if the task recurs and has not spawned before,
   * creates its next occurrence and links it in `next_task_id`, all in one statement (Neon's HTTP driver has no
   * transactions). `target` locks the row, so of two concurrent completions the second waits, then sees the
   * first's `next_task_id` and spawns nothing: exactly once. The occurrence copies the task as this write leaves
   * it (`changes` override the stored fields), with the due date one period later, computed in UTC so month
   * ends clamp (Jan 31 + 1 month = Feb 28 or 29). The series ends in year 9999: a date past it cannot be written.
   */
  private async completing(
    userId: string,
    id: string,
    set: UpdateSet,
    changes: Partial<TaskFields>,
    expected: ExpectedVersions,
  ): Promise<Task | undefined> {
    const field = <K extends keyof TaskFields>(name: K, type: string) =>
      name in changes ? sql`${sql.param(changes[name], tasks[name])}::${sql.raw(type)}` : sql.raw(`target.${name}`)
    const recurrence = field('recurrence', 'text')
    const target = this.orm.$with('target', { id: tasks.id }).as(sql`select * from ${tasks} where ${this.owned(userId, id, expected)} for update`)
    const spawned = this.orm.$with('spawned', { id: tasks.id }).as(sql`
      insert into ${tasks} (id, user_id, title, description, priority, tags, due_date, recurrence)
      select ${uuidv7()}::uuid, target.user_id, ${field('title', 'text')}, ${field('description', 'text')},
        ${field('priority', 'text')}, ${field('tags', 'text[]')},
        ((${field('due_date', 'timestamptz')}) at time zone 'UTC' + case ${recurrence}
          when 'daily' then interval '1 day' when 'weekly' then interval '7 days'
          when 'monthly' then interval '1 month' when 'yearly' then interval '1 year' end) at time zone 'UTC',
        ${recurrence}
      from target
      where not target.completed and ${recurrence} is not null and target.next_task_id is null
        and ${field('due_date', 'timestamptz')} < '9999-01-01T00:00:00Z'
      returning id`)
    const [task] = await this.orm
      .with(target, spawned)
      .update(tasks)
      .set({ ...set, next_task_id: sql`coalesce(${tasks.next_task_id}, (select id from spawned))` })
      .where(this.owned(userId, id, expected))
      .returning()
      .catch(recurrenceWithoutDueDate)
    return task
  }

  /** Counts in one pass over the caller's tasks; overdue and per-priority counts are of pending tasks. */
  async stats(userId: string): Promise<TaskStats> {
    const pending = sql`not ${tasks.completed}`
    const counted = (condition: SQL) => sql<number>`count(*) filter (where ${condition})`.mapWith(Number)
    const [row] = await this.orm
      .select({
        total: count(),
        completed: counted(sql`${tasks.completed}`),
        overdue: counted(sql`${pending} and ${tasks.due_date} < now()`),
        ...Object.fromEntries(PRIORITIES.map((priority) => [priority, counted(sql`${pending} and ${tasks.priority} = ${priority}`)])),
      })
      .from(tasks)
      .where(eq(tasks.user_id, userId))
    const { total, completed, overdue, ...byPriority } = row as Record<string, number>
    return { total: total!, completed: completed!, pending: total! - completed!, overdue: overdue!, by_priority: byPriority as TaskStats['by_priority'] }
  }

  /** Deletes the caller's completed tasks and says how many. */
  async deleteCompleted(userId: string): Promise<number> {
    const deleted = await this.orm
      .delete(tasks)
      .where(and(eq(tasks.user_id, userId), eq(tasks.completed, true)))
      .returning({ id: tasks.id })
    return deleted.length
  }

  async delete(userId: string, id: string, expected?: ExpectedVersions): Promise<boolean> {
    const deleted = await this.orm.delete(tasks).where(this.owned(userId, id, expected)).returning({ id: tasks.id })
    return deleted.length > 0
  }

  /**
   * Whether a task the caller does not own exists under this id, so a miss can be told apart as 403 or 404.
   * It answers a yes or no and never reads another user's row.
   */
  async belongsToAnotherUser(userId: string, id: string): Promise<boolean> {
    const [row] = await this.orm
      .select({ id: tasks.id })
      .from(tasks)
      .where(and(eq(tasks.id, id), ne(tasks.user_id, userId)))
    return row !== undefined
  }

  /** The caller's task with this id, and with one of the expected versions when there are any. */
  private owned(userId: string, id: string, expected?: ExpectedVersions): SQL | undefined {
    return and(eq(tasks.id, id), eq(tasks.user_id, userId), expected && inArray(tasks.version, expected))
  }
}

function recurrenceWithoutDueDate(error: unknown): never {
  if (violatedConstraint(error) === RECURRENCE_NEEDS_DUE_DATE) throw new RecurrenceWithoutDueDateError('recurrence needs a due_date', { cause: error })
  throw error
}
