import { sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uuid,
  type PgColumn,
} from 'drizzle-orm/pg-core'

export const PRIORITIES = ['low', 'medium', 'high'] as const
export const RECURRENCES = ['daily', 'weekly', 'monthly', 'yearly'] as const
export const RECURRENCE_NEEDS_DUE_DATE = 'tasks_recurrence_needs_due_date'
export const IDEMPOTENCY_KEY = 'idempotency_keys_pkey'

/**
 * Priorities in their order of importance (high 3, medium 2, low 1). The priority sort and its index both use
 * this expression: PostgreSQL uses an expression index only for the same expression.
 */
export const priorityRank = (priority: PgColumn) => sql`(case ${priority} when 'high' then 3 when 'medium' then 2 else 1 end)`

/** Millisecond precision: what the wire format and a JavaScript Date carry, so a stored value round-trips exactly. */
const timestamptz = (name: string) => timestamp(name, { withTimezone: true, precision: 3 })

/**
 * The id of the transaction running the statement (64-bit, never wraps). Every write stamps it on the rows it
 * changes; the change feed orders by it (see TaskRepository.changes).
 */
export const currentTransactionId = sql`pg_current_xact_id()::text::bigint`

/**
 * The oldest transaction still running when the statement's snapshot was taken: every transaction below it has
 * ended. The change feed shows only changes below it (see TaskRepository.changes).
 */
export const feedHorizon = sql`pg_snapshot_xmin(pg_current_snapshot())::text::bigint`

/** Rows that are tasks; the others are tombstones, kept for sync until purged. */
const live = (table: { deleted_at: PgColumn }) => sql`${table.deleted_at} is null`

/** Column keys are the API's snake_case field names, so a row is already the wire shape. */
export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey(),
    user_id: text('user_id').notNull(),
    title: text('title').notNull(),
    description: text('description'),
    completed: boolean('completed').notNull().default(false),
    completed_at: timestamptz('completed_at'),
    priority: text('priority', { enum: PRIORITIES }).notNull().default('medium'),
    tags: text('tags').array().notNull().default(sql`'{}'`),
    due_date: timestamptz('due_date'),
    recurrence: text('recurrence', { enum: RECURRENCES }),
    // The occurrence that completing this recurring task created; kept when the task is un-completed, so
    // completing it again creates no second one. No foreign key: deleting that occurrence must not re-arm it.
    next_task_id: uuid('next_task_id'),
    // The day of the month (UTC) a monthly or yearly series falls on: the day of the due date a client last set.
    // A month that lacks it clamps (Jan 31 → Feb 28), and the next one returns to it (→ Mar 31).
    recurrence_day: smallint('recurrence_day'),
    // Counts the task's changes: the ETag, and what `If-Match` compares in the same statement as the write.
    version: integer('version').notNull().default(1),
    created_at: timestamptz('created_at').notNull().defaultNow(),
    updated_at: timestamptz('updated_at').notNull().defaultNow(),
    // Set when the task is deleted: the row stays as a tombstone for sync, and every other query skips it.
    deleted_at: timestamptz('deleted_at'),
    // The transaction that last changed the task: its position in the change feed.
    change_xid: bigint('change_xid', { mode: 'bigint' }).notNull().default(currentTransactionId),
  },
  (table) => [
    // One index per list order, each leading with the owner, so every list is an index range scan. They hold
    // tasks only: tombstones cost listing nothing.
    index('tasks_user_created_idx').on(table.user_id, table.created_at, table.id).where(live(table)),
    index('tasks_user_updated_idx').on(table.user_id, table.updated_at, table.id).where(live(table)),
    index('tasks_user_title_idx').on(table.user_id, sql`lower(${table.title})`, table.id).where(live(table)),
    index('tasks_user_due_date_idx').on(table.user_id, table.due_date, table.id).where(live(table)),
    index('tasks_user_priority_idx').on(table.user_id, priorityRank(table.priority), table.id).where(live(table)),
    // Tag filters (`tags @> …`) without reading every task of the owner.
    index('tasks_tags_idx').using('gin', table.tags),
    // Counting by status reads the index alone.
    index('tasks_user_completed_idx').on(table.user_id, table.completed).where(live(table)),
    // The change feed: one user's tasks and tombstones in change order.
    index('tasks_user_changes_idx').on(table.user_id, table.change_xid, table.id),
    // The purge finds expired tombstones without reading the tasks.
    index('tasks_deleted_at_idx').on(table.deleted_at).where(sql`${table.deleted_at} is not null`),
    // Text search (`ilike '%…%'`) through trigrams; the pg_trgm extension is created by migration 0002.
    index('tasks_title_trgm_idx').using('gin', sql`${table.title} gin_trgm_ops`),
    index('tasks_description_trgm_idx').using('gin', sql`${table.description} gin_trgm_ops`),
    // The API validates these too; the database keeps them true whatever client writes.
    check('tasks_title_length', sql`char_length(${table.title}) between 1 and 200`),
    check('tasks_description_length', sql`char_length(${table.description}) between 1 and 1000`),
    check('tasks_completed_at_set_when_completed', sql`${table.completed} = (${table.completed_at} is not null)`),
    check('tasks_priority_known', sql`${table.priority} in ('low', 'medium', 'high')`),
    check('tasks_tags_at_most_20', sql`cardinality(${table.tags}) <= 20`),
    check('tasks_recurrence_known', sql`${table.recurrence} in ('daily', 'weekly', 'monthly', 'yearly')`),
    check('tasks_recurrence_day_of_month', sql`${table.recurrence_day} between 1 and 31`),
    // Checked in the same statement as every write, so an update cannot leave a recurrence without a due date.
    check(RECURRENCE_NEEDS_DUE_DATE, sql`${table.recurrence} is null or ${table.due_date} is not null`),
  ]
)

export type TaskRow = typeof tasks.$inferSelect

/**
 * Retry-safe writes: a write sent with an `Idempotency-Key` records the key and its response in the same
 * statement, so a retry gets that response again instead of writing twice. Keys are the caller's own.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    user_id: text('user_id').notNull(),
    key: text('key').notNull(),
    // A hash of the method, path and body: the same key with another request is refused.
    fingerprint: text('fingerprint').notNull(),
    status: smallint('status').notNull(),
    // The task the response carried, as the write returned it; null for a response without a body.
    task: jsonb('task'),
    // From the application's clock, which the expiry and the purge compare against.
    created_at: timestamptz('created_at').notNull(),
  },
  (table) => [
    primaryKey({ name: IDEMPOTENCY_KEY, columns: [table.user_id, table.key] }),
    index('idempotency_keys_created_at_idx').on(table.created_at),
  ]
)

export type IdempotencyKeyRow = typeof idempotencyKeys.$inferSelect

/**
 * The change feed's purge watermark: the highest feed position (`change_xid`, `id`) of any tombstone the purge has
 * deleted. A sync token behind it may miss a deletion, and gets 410; one at or past it has lost nothing. One row,
 * moved forward only by the purge, in the same statement as its delete.
 */
export const feedWatermark = pgTable(
  'feed_watermark',
  {
    singleton: boolean('singleton').primaryKey().default(true),
    purged_xid: bigint('purged_xid', { mode: 'bigint' }).notNull().default(sql`0`),
    purged_id: uuid('purged_id').notNull().default(sql`'00000000-0000-0000-0000-000000000000'`),
  },
  (table) => [check('feed_watermark_one_row', sql`${table.singleton}`)]
)

/**
 * Keys every instance shares, made once by the migration that created the table (no setting to configure):
 * `tokens` encrypts and authenticates list cursors and sync tokens. Hex, 32 bytes.
 */
export const tokenKeys = pgTable('token_keys', {
  purpose: text('purpose').primaryKey(),
  key: text('key').notNull(),
})
