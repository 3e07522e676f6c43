import type { Orm } from '../db/database.js'
import { preparedStatementsOf } from './prepared-statements.js'
import { TaskFeed } from './tasks/feed.js'
import { TaskListing } from './tasks/listing.js'
import { TaskReads } from './tasks/reads.js'
import { TaskWrites } from './tasks/writes.js'

export * from './tasks/types.js'
export { IDEMPOTENCY_KEY_LIFETIME_MS } from './tasks/idempotency.js'
export { DEFAULT_ORDER } from './tasks/listing.js'

/**
 * Every task query, by concern under tasks/: reads, listings, the change feed, writes (with the recurrence spawn
 * and the Idempotency-Key protocol). Each statement is scoped by the caller's user id, and each write is one
 * statement: the Neon HTTP driver has no interactive transactions, and one statement is atomic on every driver.
 * The statements are prepared in the database's one bounded cache (prepared-statements.ts). Each method hands its
 * call to the concern that owns it, whose signature it takes.
 */
export class TaskRepository {
  private readonly reads: TaskReads
  private readonly listing: TaskListing
  private readonly feed: TaskFeed
  private readonly writes: TaskWrites

  constructor (orm: Orm) {
    const statements = preparedStatementsOf(orm)
    this.reads = new TaskReads(orm, statements)
    this.listing = new TaskListing(orm, statements)
    this.feed = new TaskFeed(orm, statements)
    this.writes = new TaskWrites(orm, statements)
  }

  /** One page by keyset, and the count of every matching task (tasks/listing.ts). */
  list (...args: Parameters<TaskListing['list']>): ReturnType<TaskListing['list']> {
    return this.listing.list(...args)
  }

  /** The caller's changes after its token, oldest first; why none is ever lost: tasks/feed.ts. */
  changes (...args: Parameters<TaskFeed['changes']>): ReturnType<TaskFeed['changes']> {
    return this.feed.changes(...args)
  }

  get (...args: Parameters<TaskReads['get']>): ReturnType<TaskReads['get']> {
    return this.reads.get(...args)
  }

  stats (...args: Parameters<TaskReads['stats']>): ReturnType<TaskReads['stats']> {
    return this.reads.stats(...args)
  }

  /** Whether a task the caller does not own exists under this id (403 rather than 404). */
  belongsToAnotherUser (...args: Parameters<TaskReads['belongsToAnotherUser']>): ReturnType<TaskReads['belongsToAnotherUser']> {
    return this.reads.belongsToAnotherUser(...args)
  }

  create (...args: Parameters<TaskWrites['create']>): ReturnType<TaskWrites['create']> {
    return this.writes.create(...args)
  }

  update (...args: Parameters<TaskWrites['update']>): ReturnType<TaskWrites['update']> {
    return this.writes.update(...args)
  }

  toggleCompleted (...args: Parameters<TaskWrites['toggleCompleted']>): ReturnType<TaskWrites['toggleCompleted']> {
    return this.writes.toggleCompleted(...args)
  }

  delete (...args: Parameters<TaskWrites['delete']>): ReturnType<TaskWrites['delete']> {
    return this.writes.delete(...args)
  }

  deleteCompleted (...args: Parameters<TaskWrites['deleteCompleted']>): ReturnType<TaskWrites['deleteCompleted']> {
    return this.writes.deleteCompleted(...args)
  }
}
