import { and, arrayContains, count, eq, getTableColumns, gt, gte, isNull, lt, lte, ne, or, sql, type Param, type SQL, type SQLWrapper, type WithSubquery } from 'drizzle-orm'
import type { PgPreparedQuery, PgUpdateSetSource, PreparedQueryConfig } from 'drizzle-orm/pg-core'
import type { Orm } from '../db/database.js'
import { sqlState, violatedConstraint } from '../db/errors.js'
import {
  currentTransactionId,
  feedHorizon,
  feedWatermark,
  IDEMPOTENCY_KEY,
  idempotencyKeys,
  priorityRank,
  PRIORITIES,
  RECURRENCE_NEEDS_DUE_DATE,
  tasks,
  type IdempotencyKeyRow,
} from '../db/schema.js'
import { uuidv7 } from '../db/uuidv7.js'
import { preparedStatementsOf, type PreparedStatements } from './prepared-statements.js'

/** The columns a task has on the wire; the change feed's and the series' bookkeeping stays in the database. */
const { deleted_at: _deletedAt, change_xid: _changeXid, recurrence_day: _recurrenceDay, ...TASK_COLUMNS } = getTableColumns(tasks)
export type Task = { [K in keyof typeof TASK_COLUMNS]: (typeof tasks.$inferSelect)[K] }
/** The feed carries no versions: an ETag comes with a task read or written by itself. */
const { version: _version, ...FEED_TASK_COLUMNS } = TASK_COLUMNS
export type FeedTask = Omit<Task, 'version'>
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

/** A write sent with an `Idempotency-Key`: recorded with its response in the write's own statement. */
export interface IdempotencyClaim {
  key: string
  /** Identifies the request (method, path, body): the key may be reused only for the same one. */
  fingerprint: string
  /** The status the write answers with when it succeeds. */
  status: number
  /** The application's clock: when the key is recorded. */
  now: Date
}

/** How long a key is remembered: a retry within it gets the first response; later, the key is free again. */
export const IDEMPOTENCY_KEY_LIFETIME_MS = 24 * 60 * 60 * 1000

/** The first response to a request whose `Idempotency-Key` a later one reused. */
export class RecordedResponse {
  constructor(
    readonly fingerprint: string,
    readonly status: number,
    /** The task the response carried; null for a response without a body. */
    readonly task: Task | null,
  ) {}
}

/** A task, or what the first request with this write's Idempotency-Key answered, or a miss (undefined). */
export type WriteResult = Task | RecordedResponse | undefined

/** A deleted task in the change feed. */
export interface Tombstone {
  id: string
  deleted: true
  deleted_at: Date
}

/** A place in the change feed: after the change that transaction `xid` made to task `id`. */
export interface FeedPosition {
  xid: bigint
  id: string
}

/** Where a client stands in the change feed: what its sync token holds (see TaskRepository.changes). */
export interface FeedToken {
  /** Every change at or before it is final and was delivered. */
  safe: FeedPosition
  /** The pass in progress: where it has read up to, and its first read's horizon. Absent between passes. */
  pass?: { scan: FeedPosition; horizon: bigint }
  /** Tombstones of transactions below it the client never needs: the horizon of its very first read. */
  floor: bigint
}

export interface ChangesOptions {
  /** The client's token; absent: from nothing. */
  since?: FeedToken
  limit: number
}

export interface ChangesPage {
  /** Oldest first; each task at most once, in its latest state. */
  changes: (FeedTask | Tombstone)[]
  /** Where the next request continues. */
  next: FeedToken
  /** More changes are ready now. */
  hasMore: boolean
}

/** The purge has deleted a tombstone that a client at this position may still need: it must start again. */
export class FeedPositionPurgedError extends Error {}

/** The position before every change. */
const FEED_START: FeedPosition = { xid: 0n, id: '00000000-0000-0000-0000-000000000000' }

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

/** Rows that are tasks, not tombstones. */
const live = isNull(tasks.deleted_at)

/** A write's statement (an insert or update returning TASK_COLUMNS) and the common table expressions it reads. */
interface WriteStatement {
  with: WithSubquery[]
  statement: SQLWrapper
}

/**
 * A write, prepared once per shape (see PreparedStatements): `shape` names everything its SQL depends on, `build`
 * makes that SQL with placeholders, and `values` fill them for this request. It runs as `with …, written as
 * (statement) select … from written`, so the same statement serves a plain write and one that records an
 * Idempotency-Key beside it.
 */
interface Write {
  shape: string
  values: Record<string, unknown>
  /**
   * A repository method bound to this write's arguments, not an arrow function: under tsx, esbuild's keepNames
   * names every arrow function given to a variable or a property with a defineProperty when it is made, which
   * cost more than the rest of a write's bookkeeping.
   */
  build(): WriteStatement
}

/** Newest, and most important, first; titles and due dates soonest first. */
export const DEFAULT_ORDER = { created: 'desc', updated: 'desc', title: 'asc', due_date: 'asc', priority: 'desc' } as const

/** `%`, `_` and the escape character itself are literal in a search. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (character) => `\\${character}`)}%`

/**
 * Every task query. Each statement is scoped by the caller's user id, and each write is one statement: the Neon
 * HTTP driver has no interactive transactions, and one statement is atomic on every driver.
 */
export class TaskRepository {
  /** Listings and writes, prepared per shape within the process's bound. */
  private readonly statements: PreparedStatements

  /** Statements of a single shape, prepared once. */
  private readonly getOne
  private readonly changesFromNothing
  private readonly changesSince
  private readonly countOne
  private readonly clearCompleted
  private readonly ownedElsewhere
  private readonly recordedKey
  private readonly expiredKey

  constructor(private readonly orm: Orm) {
    const statements = (this.statements = preparedStatementsOf(orm))
    this.getOne = statements.prepared('tasks_get', '', (name) => orm.select(TASK_COLUMNS).from(tasks).where(target(false)).prepare(name))
    this.countOne = statements.prepared('tasks_stats', '', (name) => this.prepareStats(name))
    this.changesFromNothing = statements.prepared('tasks_changes_from_nothing', '', (name) => this.prepareChanges(false, name))
    this.changesSince = statements.prepared('tasks_changes_since', '', (name) => this.prepareChanges(true, name))
    this.clearCompleted = statements.prepared('tasks_clear_completed', '', (name) =>
      orm
        .update(tasks)
        .set(TOMBSTONE)
        .where(and(eq(tasks.user_id, slot('userId')), live, eq(tasks.completed, true)))
        .returning({ id: tasks.id })
        .prepare(name),
    )
    this.ownedElsewhere = statements.prepared('tasks_owned_elsewhere', '', (name) =>
      orm
        .select({ id: tasks.id })
        .from(tasks)
        .where(and(eq(tasks.id, slot('id')), ne(tasks.user_id, slot('userId')), live))
        .prepare(name),
    )
    this.recordedKey = statements.prepared('idempotency_keys_live', '', (name) => orm.select().from(idempotencyKeys).where(liveKey).prepare(name))
    this.expiredKey = statements.prepared('idempotency_keys_expired', '', (name) =>
      orm
        .delete(idempotencyKeys)
        .where(and(sameKey, lte(idempotencyKeys.created_at, sql.param(slot('keyExpiredBy'), idempotencyKeys.created_at))))
        .prepare(name),
    )
  }

  /**
   * One page, by keyset (never OFFSET), so pages stay stable while tasks are added or removed, and the count of
   * all matching tasks, in one statement. Tasks without a due date come last in both orders.
   */
  async list(userId: string, options: ListOptions): Promise<Page> {
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
    const rows = await rowsOf<ListRow>(this.listQuery(shape), values).catch((error: unknown) => {
      // A cursor is the client's text: a key its sort's type cannot read (SQLSTATE class 22) is a bad cursor.
      throw after !== undefined && sqlState(error)?.startsWith('22') ? new InvalidCursorError('unreadable cursor key', { cause: error }) : error
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
   * yields the count when the page is empty. Tasks without a due date come last in both orders.
   */
  private listQuery(shape: ListShape) {
    return this.statements.prepared('tasks_list', JSON.stringify(shape), (name) => this.prepareList(shape, name))
  }

  private prepareList(shape: ListShape, name: string) {
    const { status, sort, order } = shape
    const { key, type } = SORT_KEYS[sort]
    const pattern = slot('pattern')
    const filters = and(
      eq(tasks.user_id, slot('userId')),
      live,
      status === 'all' ? undefined : eq(tasks.completed, slot('completed')),
      // A text[] literal (as the tags column writes one), so that any number of priorities is one statement.
      shape.priority ? sql`${tasks.priority} = any(${slot('priorities')}::text[])` : undefined,
      shape.tag ? arrayContains(tasks.tags, slot('tags')) : undefined,
      shape.q ? sql`(${tasks.title} ilike ${pattern} escape '\\' or ${tasks.description} ilike ${pattern} escape '\\')` : undefined,
      shape.due_before ? lt(tasks.due_date, slot('dueBefore')) : undefined,
      shape.due_after ? gte(tasks.due_date, slot('dueAfter')) : undefined,
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

  /**
   * The caller's changes after its token, oldest first: tasks in their latest state, and tombstones.
   *
   * Why a client applying every page ends with exactly the live tasks, however writes interleave:
   * - Every write stamps the rows it changes with its transaction id (`change_xid`), and the feed is ordered by
   *   (`change_xid`, `id`): a later change moves a row to its later transaction's place. A read returns every row
   *   its snapshot sees after the position it starts from. Snapshots only ever see more, so a client is never
   *   sent a state of a row older than one it was sent before: what it applies last is the latest it was sent.
   * - Transactions commit in any order of their ids, so a change can become visible *behind* a position a read
   *   has passed: a naive `revision > N` would miss it forever. Only a transaction still running at that read
   *   can do that. A read's *horizon* (`pg_snapshot_xmin(pg_current_snapshot())`, in the same statement) is the
   *   oldest transaction still running when its snapshot was taken: every transaction below it had ended, and
   *   every one that can still commit is at or above it. Horizons only grow.
   * - A token holds a *safe* position, at or before which every change is final and was delivered, and the
   *   client reads in *passes*. A pass starts at the safe position; each full page moves its *scan* position to
   *   the last change sent. Every change of a transaction below the pass's first horizon `h` is visible to every
   *   read of the pass, and the pass's pages cover every position after the safe one, so the pass delivers it (or
   *   a later state of the row). A change the pass misses was still running at some read of it, so at or above `h`.
   * - So the page that ends a pass moves the safe position up to `(h, nothing)`, and the next pass reads again
   *   from there: it re-sends the changes at or above `h` (harmless: the client applies latest states) and
   *   catches those that committed behind the scan. No page holds back a change its read can see.
   * - A client never had a task whose deletion its very first read could see, nor one deleted by a transaction
   *   below that read's horizon (the floor): a first read sends no tombstones, and later ones none below the floor.
   * The cost: while a transaction runs anywhere on the database server (another database included), each pass
   * re-sends the changes made since it began; never late, never lost. Every write here is one short statement.
   *
   * The purge deletes old tombstones and, in the same statement, moves a watermark to the highest position it
   * deleted. This read takes the watermark from its own snapshot: a token whose safe position is behind it may
   * have lost a tombstone it needs (FeedPositionPurgedError), unless the client began after it (the watermark is
   * below the floor). A token at or past it has lost nothing, however old, and whatever the clocks say.
   */
  async changes(userId: string, { since, limit }: ChangesOptions): Promise<ChangesPage> {
    const floor = since?.floor
    const after = since?.pass?.scan ?? since?.safe ?? FEED_START
    const prepared = floor === undefined ? this.changesFromNothing : this.changesSince
    const rows = await rowsOf<FeedRow>(prepared, { userId, afterXid: after.xid, afterId: after.id, floor, limit: limit + 1 })
    const watermark = { xid: BigInt(rows[0]!.purged_xid), id: rows[0]!.purged_id }
    if (since !== undefined && precedes(since.safe, watermark) && watermark.xid >= since.floor) {
      throw new FeedPositionPurgedError('a tombstone after this position was purged')
    }
    const readHorizon = BigInt(rows[0]!.horizon)
    // An empty page is one row of nulls beside the horizon and the watermark.
    const found = rows[0]!.id === null ? [] : rows
    const hasMore = found.length > limit
    const changed = found.slice(0, limit)
    const last = changed.at(-1)
    const safe = since?.safe ?? FEED_START
    const passHorizon = since?.pass?.horizon ?? readHorizon
    const next: FeedToken = hasMore
      ? { safe, pass: { scan: { xid: BigInt(last!.change_xid), id: last!.id }, horizon: passHorizon }, floor: floor ?? readHorizon }
      : { safe: laterOf(safe, { xid: passHorizon, id: FEED_START.id }), floor: floor ?? readHorizon }
    const changes = changed.map((row): FeedTask | Tombstone =>
      row.deleted_at === null ? feedTaskOf(row) : { id: row.id, deleted: true, deleted_at: new Date(row.deleted_at) },
    )
    return { changes, next, hasMore }
  }

  /** A page of the feed, and the horizon and the purge's watermark in its snapshot, which a page needs even when it is empty. */
  private prepareChanges(withFloor: boolean, name: string) {
    const page = this.orm
      .select({ ...FEED_TASK_COLUMNS, deleted_at: tasks.deleted_at, change_xid: tasks.change_xid })
      .from(tasks)
      .where(
        and(
          eq(tasks.user_id, slot('userId')),
          sql`(${tasks.change_xid}, ${tasks.id}) > (${slot('afterXid')}, ${slot('afterId')}::uuid)`,
          // A client starting from nothing has no use for tasks deleted before it began: before its first read
          // (whose snapshot sees the deletion), or below that read's horizon (the floor).
          withFloor ? or(live, gte(tasks.change_xid, slot('floor'))) : live,
        ),
      )
      .orderBy(tasks.change_xid, tasks.id)
      .limit(slot('limit'))
      .as('page')
    const snapshot = this.orm.select({ horizon: sql<bigint>`${feedHorizon}`.mapWith(BigInt).as('horizon') }).from(sql`(select) as one`).as('snapshot')
    return this.orm
      .select()
      .from(snapshot)
      .innerJoin(feedWatermark, sql`true`)
      .leftJoin(page, sql`true`)
      .prepare(name)
  }

  async create(userId: string, fields: Pick<TaskFields, 'title'> & Partial<TaskFields>, claim?: IdempotencyClaim): Promise<Task | RecordedResponse> {
    const given = givenFields(fields)
    const write: Write = {
      shape: `create ${shapeOf(fields, given)} ${fields.completed === true}`,
      values: { ...fields, ...seriesDayValue(fields), id: uuidv7(), userId },
      build: this.inserting.bind(this, fields, given),
    }
    return (await this.run(userId, write, claim))!
  }

  private inserting(fields: Partial<TaskFields>, given: (keyof TaskFields)[]): WriteStatement {
    return {
      with: [],
      // `title` is named first for the insert's type, which requires one; fieldValues sets it again.
      statement: this.orm
        .insert(tasks)
        .values({
          title: slot('title'),
          ...fieldValues(fields, given),
          ...(fields.due_date && { recurrence_day: slot('recurrenceDay') }),
          id: slot('id'),
          user_id: slot('userId'),
          completed_at: fields.completed ? sql`now()` : null,
        })
        .returning(TASK_COLUMNS),
    }
  }

  async get(userId: string, id: string): Promise<Task | undefined> {
    const [row] = await rowsOf<TaskRow>(this.getOne, targetValues(userId, id, undefined))
    return row && taskOf(row)
  }

  /**
   * Applies the given fields. `updated_at`, the version and the feed position move only when a value really
   * changes, so a retried write is a no-op; `completed_at` is set when `completed` turns true and cleared when it
   * turns false.
   */
  async update(userId: string, id: string, changes: Partial<TaskFields>, expected?: ExpectedVersions, claim?: IdempotencyClaim): Promise<WriteResult> {
    const given = givenFields(changes)
    // Only a write that may complete the task can create a next occurrence.
    const completes = changes.completed === true
    const write: Write = {
      shape: `update ${shapeOf(changes, given)} ${changes.completed} ${expected !== undefined}`,
      values: { ...changes, ...seriesDayValue(changes), ...targetValues(userId, id, expected), ...(completes && { spawnId: uuidv7() }) },
      build: this.changing.bind(this, changes, given, expected !== undefined),
    }
    return this.run(userId, write, claim)
  }

  private changing(changes: Partial<TaskFields>, given: (keyof TaskFields)[], conditional: boolean): WriteStatement {
    const changed = or(...given.map((field) => sql`${tasks[field]} is distinct from ${fieldValue(changes, field)}`))
    const set = {
      ...fieldValues(changes, given),
      ...(changes.completed !== undefined && {
        completed_at: changes.completed ? sql`case when ${tasks.completed} then ${tasks.completed_at} else now() end` : null,
      }),
      ...(changes.due_date !== undefined && { recurrence_day: seriesDayWritten(changes, sql`${tasks.due_date}`, sql`${tasks.recurrence_day}`) }),
      updated_at: sql`case when ${changed} then now() else ${tasks.updated_at} end`,
      version: sql`case when ${changed} then ${tasks.version} + 1 else ${tasks.version} end`,
      change_xid: sql`case when ${changed} then ${currentTransactionId} else ${tasks.change_xid} end`,
    }
    return changes.completed === true ? this.completing(set, changes, conditional) : this.updating(set, conditional)
  }

  /** Flips `completed` in one statement, so two concurrent toggles cannot both read the same old value. */
  async toggleCompleted(userId: string, id: string, expected?: ExpectedVersions, claim?: IdempotencyClaim): Promise<WriteResult> {
    const write: Write = {
      shape: `toggle ${expected !== undefined}`,
      values: { ...targetValues(userId, id, expected), spawnId: uuidv7() },
      build: this.completing.bind(this, TOGGLE, {}, expected !== undefined),
    }
    return this.run(userId, write, claim)
  }

  /** Leaves a tombstone for sync; every other query treats the task as gone. */
  async delete(userId: string, id: string, expected?: ExpectedVersions, claim?: IdempotencyClaim): Promise<WriteResult> {
    const write: Write = {
      shape: `delete ${expected !== undefined}`,
      values: targetValues(userId, id, expected),
      build: this.updating.bind(this, TOMBSTONE, expected !== undefined),
    }
    return this.run(userId, write, claim)
  }

  private updating(set: UpdateSet, conditional: boolean): WriteStatement {
    return { with: [], statement: this.orm.update(tasks).set(set).where(target(conditional)).returning(TASK_COLUMNS) }
  }

  /**
   * A write that completes the task when it was pending and, if the task recurs and has not spawned before,
   * creates its next occurrence and links it in `next_task_id`, all in one statement (Neon's HTTP driver has no
   * transactions). `target` locks the row, so of two concurrent completions the second waits, then sees the
   * first's `next_task_id` and spawns nothing: exactly once. The occurrence copies the task as this write leaves
   * it (the fields in `changes` override the stored ones), due one period later in UTC, at the same time of day.
   * A monthly or yearly series keeps its day of month (`recurrence_day`), clamped to the length of the month
   * that lacks it: Jan 31 → Feb 28 → Mar 31; Feb 29, 2028 → Feb 28, 2029 → … → Feb 29, 2032. A series from
   * before the day was kept falls on its due date's day. The series ends in year 9999: a date past it cannot be
   * written.
   */
  private completing(set: UpdateSet, changes: Partial<TaskFields>, conditional: boolean): WriteStatement {
    const field = (name: keyof TaskFields, type: string) =>
      changes[name] === undefined ? sql.raw(`target.${name}`) : sql`${fieldValue(changes, name)}::${sql.raw(type)}`
    const recurrence = field('recurrence', 'text')
    const dueDate = field('due_date', 'timestamptz')
    const seriesDay = seriesDayWritten(changes, sql.raw('target.due_date'), sql.raw('target.recurrence_day')) ?? sql.raw('target.recurrence_day')
    const locked = this.orm.$with('target', {}).as(sql`select * from ${tasks} where ${target(conditional)} for update`)
    // `due`: the due date in UTC and the series' day; `period`: the first day of the month the next one falls in.
    const spawned = this.orm.$with('spawned', {}).as(sql`
      insert into ${tasks} (id, user_id, title, description, priority, tags, due_date, recurrence, recurrence_day)
      select ${slot('spawnId')}::uuid, target.user_id, ${field('title', 'text')}, ${field('description', 'text')},
        ${field('priority', 'text')}, ${field('tags', 'text[]')},
        (case ${recurrence}
          when 'daily' then due.local + interval '1 day'
          when 'weekly' then due.local + interval '7 days'
          else period.first + make_interval(days => least(due.day, extract(day from period.first + interval '1 month' - interval '1 day'))::int - 1)
            + (due.local - date_trunc('day', due.local))
        end) at time zone 'UTC',
        ${recurrence}, due.day
      from target
        cross join lateral (select local, coalesce(${seriesDay}, extract(day from local))::smallint as day
          from (select (${dueDate}) at time zone 'UTC' as local) as utc) as due
        cross join lateral (select date_trunc('month', due.local)
          + case ${recurrence} when 'yearly' then interval '1 year' else interval '1 month' end as first) as period
      where not target.completed and ${recurrence} is not null and target.next_task_id is null
        and ${dueDate} < '9999-01-01T00:00:00Z'
      returning id`)
    const statement = this.orm
      .update(tasks)
      .set({ ...set, next_task_id: sql`coalesce(${tasks.next_task_id}, (select id from spawned))` })
      .where(target(conditional))
      .returning(TASK_COLUMNS)
    return { with: [locked, spawned], statement }
  }

  /**
   * Runs a write in one statement. With a claim, the same statement records the key and the response beside the
   * write, so both happen or neither does (the Neon HTTP driver has no transactions to span two statements):
   * - key unknown: the write runs and the key is recorded;
   * - key recorded by an earlier request and the write matched nothing: the statement returns that record;
   * - key recorded and the write matched: inserting the key breaks its primary key and the whole statement,
   *   the write included, rolls back; the record is read instead. A concurrent first request holding the key
   *   uncommitted makes this statement wait for its outcome, so a retry never writes twice;
   * - key recorded more than a day ago: it has expired; it is deleted and the write runs again;
   * - the write matched nothing: the key is looked up once more (see below), else it is a miss.
   */
  private async run(userId: string, write: Write, claim: IdempotencyClaim | undefined): Promise<WriteResult> {
    if (claim === undefined) {
      const prepared = this.statements.prepared('tasks_write', write.shape, (name) => this.prepareWrite(write, name))
      const [row] = await rowsOf<TaskRow>(prepared, write.values).catch(recurrenceWithoutDueDate)
      return row && taskOf(row)
    }
    for (let attempt = 1; ; attempt++) {
      try {
        // A miss may be a concurrent first request's doing: it held the row, changed it and recorded the key
        // while this statement waited for the row. A fresh read sees its record, which is then the answer.
        return (await this.runClaimed(userId, write, claim)) ?? (await this.recordedResponse(userId, claim))
      } catch (error) {
        // The key was recorded after this statement began: its record is the answer; an expired one is freed
        // so that the write can run again.
        if (violatedConstraint(error) !== IDEMPOTENCY_KEY || attempt === 3) throw error
        const recorded = await this.recordedResponse(userId, claim)
        if (recorded !== undefined) return recorded
        await this.expiredKey.execute(claimValues(userId, claim))
      }
    }
  }

  /** A write's statement, `with …, written as (write) select … from written`, prepared once per shape. */
  private prepareWrite(write: Write, name: string) {
    const { with: ctes, statement } = write.build()
    const written = this.orm.$with('written', TASK_COLUMNS).as(statement.getSQL())
    return this.orm.with(...ctes, written).select().from(written).prepare(name)
  }

  /** The write, the lookup of its key and the key's record in one statement, prepared once per shape. */
  private async runClaimed(userId: string, write: Write, claim: IdempotencyClaim): Promise<WriteResult> {
    const withBody = claim.status !== 204
    const prepared = this.statements.prepared('tasks_keyed_write', `${write.shape} ${withBody}`, (name) => this.prepareClaimed(write, withBody, name))
    const [row] = await prepared.execute({ ...write.values, ...claimValues(userId, claim) }).catch(recurrenceWithoutDueDate)
    if (row?.existing) return recordedResponse(row.existing)
    return row?.written ?? undefined
  }

  private prepareClaimed(write: Write, withBody: boolean, name: string) {
    const { with: ctes, statement } = write.build()
    const written = this.orm.$with('written', TASK_COLUMNS).as(statement.getSQL())
    const existing = this.orm.$with('existing').as(this.orm.select().from(idempotencyKeys).where(liveKey))
    const recorded = this.orm.$with('recorded', {}).as(sql`
      insert into ${idempotencyKeys} (user_id, key, fingerprint, status, task, created_at)
      select ${slot('userId')}, ${slot('idempotencyKey')}, ${slot('keyFingerprint')}, ${slot('keyStatus')}, ${withBody ? sql`to_jsonb(written)` : null},
        ${sql.param(slot('keyRecordedAt'), idempotencyKeys.created_at)}
      from written`)
    return this.orm.with(...ctes, written, existing, recorded).select().from(written).fullJoin(existing, sql`true`).prepare(name)
  }

  /** The record of the caller's key, when it is live. */
  private async recordedResponse(userId: string, claim: IdempotencyClaim): Promise<RecordedResponse | undefined> {
    const [stored] = await this.recordedKey.execute(claimValues(userId, claim))
    return stored && recordedResponse(stored)
  }

  /** Counts in one pass over the caller's tasks; overdue and per-priority counts are of pending tasks. */
  async stats(userId: string): Promise<TaskStats> {
    const [row] = await this.countOne.execute({ userId })
    const { total, completed, overdue, ...byPriority } = row as Record<string, number>
    return { total: total!, completed: completed!, pending: total! - completed!, overdue: overdue!, by_priority: byPriority as TaskStats['by_priority'] }
  }

  private prepareStats(name: string) {
    const pending = sql`not ${tasks.completed}`
    const counted = (condition: SQL) => sql<number>`count(*) filter (where ${condition})`.mapWith(Number)
    return this.orm
      .select({
        total: count(),
        completed: counted(sql`${tasks.completed}`),
        overdue: counted(sql`${pending} and ${tasks.due_date} < now()`),
        ...Object.fromEntries(PRIORITIES.map((priority) => [priority, counted(sql`${pending} and ${tasks.priority} = ${priority}`)])),
      })
      .from(tasks)
      .where(and(eq(tasks.user_id, slot('userId')), live))
      .prepare(name)
  }

  /** Deletes the caller's completed tasks (leaving tombstones) and says how many. */
  async deleteCompleted(userId: string): Promise<number> {
    return (await this.clearCompleted.execute({ userId })).length
  }

  /**
   * Whether a task the caller does not own exists under this id, so a miss can be told apart as 403 or 404.
   * It answers a yes or no and never reads another user's row.
   */
  async belongsToAnotherUser(userId: string, id: string): Promise<boolean> {
    return (await this.ownedElsewhere.execute({ userId, id })).length > 0
  }
}

/** A task's row as every driver returns it unmapped: timestamps in PostgreSQL's text form. */
type TaskRow = { [K in keyof Task]: Task[K] extends Date ? string : Task[K] extends Date | null ? string | null : Task[K] }
/** A listing's row: the count of every match, beside a task of the page and its sort key (the cursor's). */
type ListRow = TaskRow & { total: number | string | bigint; sort_key: string | null }
/** A feed's row: the read's horizon and the purge's watermark, beside a task or a tombstone and its change's transaction. */
type FeedRow = TaskRow & {
  horizon: string | bigint
  purged_xid: string | bigint
  purged_id: string
  deleted_at: string | null
  change_xid: string | bigint
}

/**
 * Runs a prepared statement and returns its rows as the driver parsed them, keyed by column name, without
 * Drizzle's per-row mapping. Selected through a subquery or a CTE, as pages and writes are, each field reaches
 * that mapping through Drizzle's alias proxies, at about half a microsecond a field: 150 µs for a page of 20
 * tasks, more than all the rest of the request (`BENCH_PROFILE=1 npm run bench`). The prepared queries of all
 * three drivers have `all()`; the type they share does not declare it.
 */
function rowsOf<Row>(prepared: PgPreparedQuery<PreparedQueryConfig>, values: Record<string, unknown>): Promise<Row[]> {
  return (prepared as unknown as { all(values: Record<string, unknown>): Promise<Row[]> }).all(values)
}

const dateOf = (text: string | null) => (text === null ? null : new Date(text))

/** One object literal, built once per row: the shape every task on the wire has. */
function taskOf(row: TaskRow): Task {
  return {
    id: row.id,
    user_id: row.user_id,
    title: row.title,
    description: row.description,
    completed: row.completed,
    completed_at: dateOf(row.completed_at),
    priority: row.priority,
    tags: row.tags,
    due_date: dateOf(row.due_date),
    recurrence: row.recurrence,
    next_task_id: row.next_task_id,
    version: row.version,
    created_at: new Date(row.created_at),
    updated_at: new Date(row.updated_at),
  }
}

function feedTaskOf(row: TaskRow): FeedTask {
  const { version: _version, ...task } = taskOf(row)
  return task
}

/** Whether feed position `a` comes before `b` (ids compare as PostgreSQL compares uuids: as lower-case hex). */
function precedes(a: FeedPosition, b: FeedPosition): boolean {
  return a.xid < b.xid || (a.xid === b.xid && a.id < b.id)
}

/** The later of two feed positions. */
function laterOf(a: FeedPosition, b: FeedPosition): FeedPosition {
  return precedes(a, b) ? b : a
}

const slot = (name: string) => sql.placeholder(name)

/** The caller's Idempotency-Key, and the same while it is live; the placeholders claimValues fills. */
const sameKey = and(eq(idempotencyKeys.user_id, slot('userId')), eq(idempotencyKeys.key, slot('idempotencyKey')))
const liveKey = and(sameKey, gt(idempotencyKeys.created_at, sql.param(slot('keyExpiredBy'), idempotencyKeys.created_at)))

/** A claim's values for its statements' placeholders; keys recorded at or before `keyExpiredBy` are expired. */
function claimValues(userId: string, claim: IdempotencyClaim): Record<string, unknown> {
  return {
    userId,
    idempotencyKey: claim.key,
    keyFingerprint: claim.fingerprint,
    keyStatus: claim.status,
    keyRecordedAt: claim.now,
    keyExpiredBy: new Date(claim.now.getTime() - IDEMPOTENCY_KEY_LIFETIME_MS),
  }
}

/**
 * A field's value in a prepared write's SQL: a placeholder that the column encodes (arrays and dates as
 * PostgreSQL reads them), or SQL null, which column encoders do not take.
 */
function fieldValue(fields: Partial<TaskFields>, name: keyof TaskFields): SQL | Param {
  return fields[name] === null ? sql`null` : sql.param(slot(name), tasks[name])
}

/** The placeholder value of a write's series day (see seriesDayWritten): the due date's day of month in UTC. */
function seriesDayValue(fields: Partial<TaskFields>): { recurrenceDay?: number } {
  return fields.due_date ? { recurrenceDay: fields.due_date.getUTCDate() } : {}
}

/**
 * The series' day of month as a write leaves it, from the row before the write (its `due_date` and
 * `recurrence_day`): the new due date's day when the write moves the due date, else the stored day (so a client
 * sending the due date it read, Feb 28 of a series on the 31st, does not move the series); null without a due
 * date. Undefined when the write leaves the due date alone.
 */
function seriesDayWritten(fields: Partial<TaskFields>, storedDueDate: SQL, storedDay: SQL): SQL | undefined {
  if (fields.due_date === undefined) return undefined
  if (fields.due_date === null) return sql`null`
  return sql`case when ${storedDueDate} is distinct from ${fieldValue(fields, 'due_date')} then ${slot('recurrenceDay')}::smallint else ${storedDay} end`
}

/** The fields to insert or set: insert and set wrap each placeholder with its column's encoder themselves. */
const fieldValues = (fields: Partial<TaskFields>, given: (keyof TaskFields)[]) =>
  Object.fromEntries(given.map((name) => [name, fields[name] === null ? sql`null` : slot(name)]))

/** Which fields a write sets, and which of them to null: part of its shape. */
const shapeOf = (fields: Partial<TaskFields>, given: (keyof TaskFields)[]) => given.map((name) => (fields[name] === null ? `${name}:null` : name)).join(',')

/** The fields a write sets, in a fixed order: part of its shape. */
function givenFields(fields: Partial<TaskFields>): (keyof TaskFields)[] {
  return (Object.keys(fields) as (keyof TaskFields)[]).filter((field) => fields[field] !== undefined).sort()
}

/**
 * The caller's task with this id and, when the write is conditional, with one of the expected versions: bound as
 * one int[] literal (see targetValues), so that any number of If-Match tags is one statement.
 */
function target(conditional: boolean): SQL | undefined {
  return and(eq(tasks.id, slot('id')), eq(tasks.user_id, slot('userId')), live, conditional ? sql`${tasks.version} = any(${slot('expected')}::int[])` : undefined)
}

/** The values of target's placeholders; versions are integers (src/http/etag.ts), so the literal needs no quoting. */
function targetValues(userId: string, id: string, expected: ExpectedVersions): Record<string, unknown> {
  return expected === undefined ? { userId, id } : { userId, id, expected: `{${expected.join(',')}}` }
}

/** What toggling sets. */
const TOGGLE = {
  completed: sql`not ${tasks.completed}`,
  completed_at: sql`case when ${tasks.completed} then null else now() end`,
  updated_at: sql`now()`,
  version: sql`${tasks.version} + 1`,
  change_xid: currentTransactionId,
} satisfies UpdateSet

/** What deleting sets: the row stays, as a tombstone in the change feed. */
const TOMBSTONE = {
  deleted_at: sql`now()`,
  updated_at: sql`now()`,
  version: sql`${tasks.version} + 1`,
  change_xid: currentTransactionId,
} satisfies UpdateSet

/** A stored record as the first response: its task is the written row as JSON, mapped like any other row. */
function recordedResponse(row: IdempotencyKeyRow): RecordedResponse {
  return new RecordedResponse(row.fingerprint, row.status, row.task === null ? null : taskOf(row.task as TaskRow))
}

function recurrenceWithoutDueDate(error: unknown): never {
  if (violatedConstraint(error) === RECURRENCE_NEEDS_DUE_DATE) throw new RecurrenceWithoutDueDateError('recurrence needs a due_date', { cause: error })
  throw error
}
