import type { Static } from '@sinclair/typebox'
import type { tasks } from '../../db/schema.js'
import type { TaskUpdate } from '../../schemas/task.js'
import type { FEED_TASK_COLUMNS, TASK_COLUMNS } from './columns.js'

/** A task as the repository returns it: its wire columns, as the table types them. */
export type Task = { [K in keyof typeof TASK_COLUMNS]: (typeof tasks.$inferSelect)[K] }
export type FeedTask = { [K in keyof typeof FEED_TASK_COLUMNS]: Task[K] }

/** What a client may write: the fields of the update schema, as the table types them. */
export type TaskFields = Pick<Task, Extract<keyof Static<typeof TaskUpdate>, keyof Task>>

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

/** The first response to a request whose `Idempotency-Key` a later one reused. */
export class RecordedResponse {
  constructor (
    readonly fingerprint: string,
    readonly status: number,
    /** The task the response carried; null for a response without a body. */
    readonly task: Task | null
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

/** Where a client stands in the change feed: what its sync token holds (see the correctness note in feed.ts). */
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
