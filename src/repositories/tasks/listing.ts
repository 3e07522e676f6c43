import { and, arrayContains, eq, gte, ilike, lt, or, sql } from 'drizzle-orm'
import type { Orm } from '../../db/database.js'
import { sqlState } from '../../db/errors.js'
import { priorityRank, tasks } from '../../db/schema.js'
import type { PreparedStatements } from '../prepared-statements.js'
import { live, slot, TASK_COLUMNS } from './columns.js'
import { rowsOf, taskOf, type TaskRow } from './rows.js'
import { InvalidCursorError, type ListOptions, type Page } from './types.js'

/** What a listing's statement depends on, values aside: one prepared statement per shape. */
interface ListShape {
  status: NonNullable<ListOptions['status']>
  /** Whether priorities are filtered (bound as one array, however many). */
  priority: boolean
  tag: boolean
  q: boolean
  due_before: boolean
  due_after: boolean
  sort: NonNullable<ListOptions['sort']>
  order: NonNullable<ListOptions['order']>
  /** No cursor; a cursor past the dated tasks; a cursor with a sort key. */
  cursor: 'none' | 'undated' | 'keyed'
}

/** A listing's row: the count of every match, beside a task of the page and its sort key (the cursor's). */
type ListRow = TaskRow & { total: number | string | bigint; sort_key: string | null }

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

/**
 * `%`, `_` and the escape character itself are literal in a search. The backslash is PostgreSQL's default escape
 * character for LIKE, so Drizzle's `ilike`, which names none, reads the pattern this way.
 */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (character) => `\\${character}`)}%`

/**
 * Listings: one page, by keyset (never OFFSET), so pages stay stable while tasks are added or removed, and the
 * count of all matching tasks, in one statement. Tasks without a due date come last in both orders.
 */
export class TaskListing {
  constructor (
    private readonly orm: Orm,
    private readonly statements: PreparedStatements
  ) {}

  async list (userId: string, options: ListOptions): Promise<Page> {
    const { status = 'all', priority, tag, q, due_before, due_after, sort = 'created', order = DEFAULT_ORDER[sort] } = options
    const { limit = DEFAULT_LIMIT, after } = options
    const shape: ListShape = {
      status,
      priority: priority !== undefined,
      tag: tag !== undefined,
      q: q !== undefined,
      due_before: due_before !== undefined,
      due_after: due_after !== undefined,
      sort,
      order,
      cursor: after === undefined ? 'none' : after.key === null ? 'undated' : 'keyed',
    }
    // The values go in as the columns would encode them: arrays and dates as PostgreSQL literals.
    const values = {
      userId,
      limit: limit + 1,
      ...(status !== 'all' && { completed: status === 'completed' }),
      ...(priority !== undefined && { priorities: tasks.tags.mapToDriverValue(priority) }),
      ...(tag !== undefined && { tags: tasks.tags.mapToDriverValue(tag) }),
      ...(q !== undefined && { pattern: likePattern(q) }),
      ...(due_before !== undefined && { dueBefore: tasks.due_date.mapToDriverValue(due_before) }),
      ...(due_after !== undefined && { dueAfter: tasks.due_date.mapToDriverValue(due_after) }),
      ...(after !== undefined && { afterKey: after.key, afterId: after.id }),
    }
    const prepared = this.statements.shaped('tasks_list', shape, this.prepare)
    const rows = await rowsOf<ListRow>(prepared, values).catch((error: unknown) => {
      // A cursor is the client's text: a key its sort's type cannot read (SQLSTATE class 22) is a bad cursor.
      throw after !== undefined && sqlState(error)?.startsWith('22')
        ? new InvalidCursorError('unreadable cursor key', { cause: error })
        : error
    })
    // An empty page is one row of nulls beside the count (the lateral join's).
    const found = rows[0]!.id === null ? [] : rows
    const last = found.length > limit ? found[limit - 1] : undefined
    return {
      tasks: found.slice(0, limit).map(taskOf),
      total: Number(rows[0]!.total),
      ...(last && { next: { key: last.sort_key, id: last.id } }),
    }
  }

  /**
   * The prepared statement for one shape of listing, built once and kept: values are placeholders, so requests
   * skip building the query and, on a server, PostgreSQL plans it once per connection. The count and the page
   * come in one statement: the page is a keyset range that stops at its limit, and the lateral join still
   * yields the count when the page is empty.
   */
  private readonly prepare = (shape: ListShape, name: string) => {
    const { status, sort, order } = shape
    const { key, type } = SORT_KEYS[sort]
    const filters = and(
      eq(tasks.user_id, slot('userId')),
      live,
      status === 'all' ? undefined : eq(tasks.completed, slot('completed')),
      // A text[] literal (as the tags column writes one), so that any number of priorities is one statement.
      shape.priority ? sql`${tasks.priority} = any(${slot('priorities')}::text[])` : undefined,
      shape.tag ? arrayContains(tasks.tags, slot('tags')) : undefined,
      shape.q ? or(ilike(tasks.title, slot('pattern')), ilike(tasks.description, slot('pattern'))) : undefined,
      shape.due_before ? lt(tasks.due_date, slot('dueBefore')) : undefined,
      shape.due_after ? gte(tasks.due_date, slot('dueAfter')) : undefined
    )
    const beyond = sql.raw(order === 'asc' ? '>' : '<')
    const keyed = sql`(${key}, ${tasks.id}) ${beyond} (${slot('afterKey')}::${sql.raw(type)}, ${slot('afterId')}::uuid)`
    // Only due dates can be null; those rows come after every dated one, ordered by id.
    const afterCursor = {
      none: undefined,
      undated: sql`${tasks.due_date} is null and ${tasks.id} ${beyond} ${slot('afterId')}::uuid`,
      keyed: sort === 'due_date' ? sql`(${tasks.due_date} is null or ${keyed})` : keyed,
    }[shape.cursor]
    // Spelled out only where nulls exist: on a NOT NULL key, `nulls last` would stop PostgreSQL using the index order.
    const direction = sql.raw(sort === 'due_date' ? `${order} nulls last` : order)
    const counted = this.orm.select({ total: sql<number>`count(*)`.mapWith(Number).as('total') }).from(tasks).where(filters).as('counted')
    const page = this.orm
      .select({ ...TASK_COLUMNS, sort_key: sql<string | null>`(${key})::text`.as('sort_key') })
      .from(tasks)
      .where(and(filters, afterCursor))
      .orderBy(sql`${key} ${direction}`, sql`${tasks.id} ${sql.raw(order)}`)
      .limit(slot('limit'))
      .as('page')
    return this.orm.select().from(counted).leftJoinLateral(page, sql`true`).prepare(name)
  }
}
