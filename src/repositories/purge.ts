import { and, inArray, lt, sql } from 'drizzle-orm'
import type { Orm } from '../db/database.js'
import { feedHorizon, idempotencyKeys, tasks } from '../db/schema.js'

/**
 * Deletes what has outlived its use, a bounded batch per statement. Rows locked by a running write are skipped,
 * not waited for, so a purge never blocks a request (the next batch or run takes them).
 */
export class PurgeRepository {
  constructor(private readonly orm: Orm) {}

  /**
   * Tombstones of tasks deleted before `before`; returns how many went. Only those the change feed can already
   * show (below its horizon, see TaskRepository.changes): a deletion that a long-running transaction still hides
   * from the feed keeps its tombstone until clients can see it.
   */
  async tombstones(before: Date, batch: number): Promise<number> {
    const expired = this.orm
      .select({ id: tasks.id })
      .from(tasks)
      .where(and(lt(tasks.deleted_at, before), lt(tasks.change_xid, feedHorizon)))
      .limit(batch)
      .for('update', { skipLocked: true })
    const purged = await this.orm.delete(tasks).where(inArray(tasks.id, expired)).returning({ id: tasks.id })
    return purged.length
  }

  /** Idempotency keys recorded before `before`; returns how many went. */
  async idempotencyKeys(before: Date, batch: number): Promise<number> {
    const expired = this.orm
      .select({ user_id: idempotencyKeys.user_id, key: idempotencyKeys.key })
      .from(idempotencyKeys)
      .where(lt(idempotencyKeys.created_at, before))
      .limit(batch)
      .for('update', { skipLocked: true })
    const purged = await this.orm
      .delete(idempotencyKeys)
      .where(sql`(${idempotencyKeys.user_id}, ${idempotencyKeys.key}) in ${expired}`)
      .returning({ key: idempotencyKeys.key })
    return purged.length
  }
}
