import { and, eq, gte, or, sql } from 'drizzle-orm'
import type { Orm } from '../../db/database.js'
import { feedHorizon, feedWatermark, tasks } from '../../db/schema.js'
import type { PreparedStatements } from '../prepared-statements.js'
import { FEED_TASK_COLUMNS, live, slot } from './columns.js'
import { feedTaskOf, rowsOf, type RowOf } from './rows.js'
import {
  FeedPositionPurgedError,
  type ChangesOptions,
  type ChangesPage,
  type FeedPosition,
  type FeedTask,
  type FeedToken,
  type Tombstone,
} from './types.js'

/** A feed's row: the read's horizon and the purge's watermark, beside a task or a tombstone and its change's transaction. */
type FeedRow = RowOf<FeedTask> & {
  horizon: string | bigint
  purged_xid: string | bigint
  purged_id: string
  deleted_at: string | null
  change_xid: string | bigint
}

/** The position before every change. */
const FEED_START: FeedPosition = { xid: 0n, id: '00000000-0000-0000-0000-000000000000' }

/** The change feed: what changed in the caller's tasks since its sync token. */
export class TaskFeed {
  private readonly fromNothing
  private readonly since

  constructor (
    private readonly orm: Orm,
    statements: PreparedStatements
  ) {
    this.fromNothing = statements.single('tasks_changes_from_nothing', (name) => this.prepare(false, name))
    this.since = statements.single('tasks_changes_since', (name) => this.prepare(true, name))
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
  async changes (userId: string, { since, limit }: ChangesOptions): Promise<ChangesPage> {
    const floor = since?.floor
    const after = since?.pass?.scan ?? since?.safe ?? FEED_START
    const prepared = floor === undefined ? this.fromNothing : this.since
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
      row.deleted_at === null ? feedTaskOf(row) : { id: row.id, deleted: true, deleted_at: new Date(row.deleted_at) }
    )
    return { changes, next, hasMore }
  }

  /** A page of the feed, and the horizon and the purge's watermark in its snapshot, which a page needs even when it is empty. */
  private prepare (withFloor: boolean, name: string) {
    const page = this.orm
      .select({ ...FEED_TASK_COLUMNS, deleted_at: tasks.deleted_at, change_xid: tasks.change_xid })
      .from(tasks)
      .where(
        and(
          eq(tasks.user_id, slot('userId')),
          sql`(${tasks.change_xid}, ${tasks.id}) > (${slot('afterXid')}, ${slot('afterId')}::uuid)`,
          // A client starting from nothing has no use for tasks deleted before it began: before its first read
          // (whose snapshot sees the deletion), or below that read's horizon (the floor).
          withFloor ? or(live, gte(tasks.change_xid, slot('floor'))) : live
        )
      )
      .orderBy(tasks.change_xid, tasks.id)
      .limit(slot('limit'))
      .as('page')
    const snapshot = this.orm
      .select({ horizon: sql<bigint>`${feedHorizon}`.mapWith(BigInt).as('horizon') })
      .from(sql`(select) as one`)
      .as('snapshot')
    return this.orm
      .select()
      .from(snapshot)
      .innerJoin(feedWatermark, sql`true`)
      .leftJoin(page, sql`true`)
      .prepare(name)
  }
}

/** Whether feed position `a` comes before `b` (ids compare as PostgreSQL compares uuids: as lower-case hex). */
function precedes (a: FeedPosition, b: FeedPosition): boolean {
  return a.xid < b.xid || (a.xid === b.xid && a.id < b.id)
}

/** The later of two feed positions. */
function laterOf (a: FeedPosition, b: FeedPosition): FeedPosition {
  return precedes(a, b) ? b : a
}
