import type { Orm } from '../db/database.js'
import { preparedStatementsOf } from './prepared-statements.js'
import { TaskFeed } from './tasks/feed.js'
import { TaskListing } from './tasks/listing.js'
import { TaskReads } from './tasks/reads.js'
import type {
  ChangesOptions,
  ChangesPage,
  ExpectedVersions,
  IdempotencyClaim,
  ListOptions,
  Page,
  RecordedResponse,
  Task,
  TaskFields,
  TaskStats,
  WriteResult,
} from './tasks/types.js'
import { TaskWrites } from './tasks/writes.js'

export * from './tasks/types.js'
export { IDEMPOTENCY_KEY_LIFETIME_MS } from './tasks/idempotency.js'
export { DEFAULT_ORDER } from './tasks/listing.js'

/**
 * Every task query, by concern under tasks/: reads, listings, the change feed, writes (with the recurrence spawn
 * and the Idempotency-Key protocol). Each statement is scoped by the caller's user id, and each write is one
 * statement: the Neon HTTP driver has no interactive transactions, and one statement is atomic on every driver.
 * The statements are prepared in the database's one bounded cache (prepared-statements.ts).
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
  list (userId: string, options: ListOptions): Promise<Page> {
    return this.listing.list(userId, options)
  }

  /** The caller's changes after its token, oldest first; why none is ever lost: tasks/feed.ts. */
  changes (userId: string, options: ChangesOptions): Promise<ChangesPage> {
    return this.feed.changes(userId, options)
  }

  get (userId: string, id: string): Promise<Task | undefined> {
    return this.reads.get(userId, id)
  }

  stats (userId: string): Promise<TaskStats> {
    return this.reads.stats(userId)
  }

  /** Whether a task the caller does not own exists under this id (403 rather than 404). */
  belongsToAnotherUser (userId: string, id: string): Promise<boolean> {
    return this.reads.belongsToAnotherUser(userId, id)
  }

  create (
    userId: string,
    fields: Pick<TaskFields, 'title'> & Partial<TaskFields>,
    claim?: IdempotencyClaim
  ): Promise<Task | RecordedResponse> {
    return this.writes.create(userId, fields, claim)
  }

  update (
    userId: string,
    id: string,
    changes: Partial<TaskFields>,
    expected?: ExpectedVersions,
    claim?: IdempotencyClaim
  ): Promise<WriteResult> {
    return this.writes.update(userId, id, changes, expected, claim)
  }

  toggleCompleted (userId: string, id: string, expected?: ExpectedVersions, claim?: IdempotencyClaim): Promise<WriteResult> {
    return this.writes.toggleCompleted(userId, id, expected, claim)
  }

  delete (userId: string, id: string, expected?: ExpectedVersions, claim?: IdempotencyClaim): Promise<WriteResult> {
    return this.writes.delete(userId, id, expected, claim)
  }

  deleteCompleted (userId: string): Promise<number> {
    return this.writes.deleteCompleted(userId)
  }
}
