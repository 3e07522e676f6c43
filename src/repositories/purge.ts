import { count, desc, inArray, lt, sql } from 'drizzle-orm'
import type { Orm } from '../db/database.js'
import { feedWatermark, idempotencyKeys, tasks } from '../db/schema.js'

/**
 * Deletes what has outlived its use, a bounded batch per statement. Rows locked by a running write are skipped,
 * not waited for, so a purge never blocks a request (the next batch or run takes them).
 */
export class PurgeRepository {
  constructor (private readonly orm: Orm) {}

  /**
   * Tombstones of tasks deleted before `before`; returns how many went. The same statement moves the feed's
   * watermark forward to the highest feed position it deleted (see TaskRepository.changes), so no reader ever
   * sees a tombstone gone and the watermark behind it. Purges running at once on several instances delete
   * different rows, and each moves the watermark only forward: the second waits for the first's row and then
   * compares with what the first wrote.
   */
  async tombstones (before: Date, batch: number): Promise<number> {
    const expired = this.orm
      .select({ id: tasks.id })
      .from(tasks)
      .where(lt(tasks.deleted_at, before))
      .limit(batch)
      .for('update', { skipLocked: true })
    const purged = this.orm.$with('purged').as(
      this.orm
        .delete(tasks)
        .where(inArray(tasks.id, expired))
        .returning({ xid: tasks.change_xid, id: tasks.id })
    )
    const highest = this.orm.$with('highest').as(this.orm.select().from(purged).orderBy(desc(purged.xid), desc(purged.id)).limit(1))
    const advanced = this.orm.$with('advanced').as(
      this.orm
        .update(feedWatermark)
        .set({ purged_xid: sql`${highest.xid}`, purged_id: sql`${highest.id}` })
        .from(highest)
        .where(sql`(${highest.xid}, ${highest.id}) > (${feedWatermark.purged_xid}, ${feedWatermark.purged_id})`)
        .returning({ xid: feedWatermark.purged_xid })
    )
    // A data-modifying CTE runs whether or not the main query reads it.
    const [row] = await this.orm.with(purged, highest, advanced).select({ purged: count() }).from(purged)
    return row!.purged
  }

  /** Idempotency keys recorded before `before`; returns how many went. */
  async idempotencyKeys (before: Date, batch: number): Promise<number> {
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
