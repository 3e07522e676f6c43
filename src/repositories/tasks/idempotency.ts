import { and, eq, gt, lte, sql } from 'drizzle-orm'
import type { Orm } from '../../db/database.js'
import { violatedConstraint } from '../../db/errors.js'
import { IDEMPOTENCY_KEY, idempotencyKeys, type IdempotencyKeyRow } from '../../db/schema.js'
import type { PreparedStatements } from '../prepared-statements.js'
import { slot, TASK_COLUMNS } from './columns.js'
import { taskOf, type TaskRow } from './rows.js'
import { RecordedResponse, type IdempotencyClaim, type WriteResult } from './types.js'
import { recurrenceWithoutDueDate, writeStatement, type WriteShape } from './write-statements.js'

/** How long a key is remembered: a retry within it gets the first response; later, the key is free again. */
export const IDEMPOTENCY_KEY_LIFETIME_MS = 24 * 60 * 60 * 1000

/** What a keyed write's statement depends on: the write's shape, and whether its response has a body to record. */
interface ClaimedShape {
  write: WriteShape
  withBody: boolean
}

/** The caller's Idempotency-Key, and the same while it is live; the placeholders claimValues fills. */
const sameKey = and(eq(idempotencyKeys.user_id, slot('userId')), eq(idempotencyKeys.key, slot('idempotencyKey')))
/** Keys recorded at or before this are expired. */
const expiredBy = sql.param(slot('keyExpiredBy'), idempotencyKeys.created_at)
const liveKey = and(sameKey, gt(idempotencyKeys.created_at, expiredBy))

/**
 * Writes sent with an `Idempotency-Key`. The same statement records the key and the response beside the write,
 * so both happen or neither does (the Neon HTTP driver has no transactions to span two statements):
 * - key unknown: the write runs and the key is recorded;
 * - key recorded by an earlier request and the write matched nothing: the statement returns that record;
 * - key recorded and the write matched: inserting the key breaks its primary key and the whole statement,
 *   the write included, rolls back; the record is read instead. A concurrent first request holding the key
 *   uncommitted makes this statement wait for its outcome, so a retry never writes twice;
 * - key recorded more than a day ago: it has expired; it is deleted and the write runs again;
 * - the write matched nothing: the key is looked up once more (see below), else it is a miss.
 */
export class IdempotentWrites {
  private readonly recordedKey
  private readonly expiredKey

  constructor (
    private readonly orm: Orm,
    private readonly statements: PreparedStatements
  ) {
    this.recordedKey = statements.single('idempotency_keys_live', (name) => orm.select().from(idempotencyKeys).where(liveKey).prepare(name))
    this.expiredKey = statements.single('idempotency_keys_expired', (name) =>
      orm
        .delete(idempotencyKeys)
        .where(and(sameKey, lte(idempotencyKeys.created_at, expiredBy)))
        .prepare(name)
    )
  }

  async run (userId: string, write: WriteShape, values: Record<string, unknown>, claim: IdempotencyClaim): Promise<WriteResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        // A miss may be a concurrent first request's doing: it held the row, changed it and recorded the key
        // while this statement waited for the row. A fresh read sees its record, which is then the answer.
        return (await this.runClaimed(userId, write, values, claim)) ?? (await this.recordedResponse(userId, claim))
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

  /** The write, the lookup of its key and the key's record in one statement, prepared once per shape. */
  private async runClaimed (
    userId: string,
    write: WriteShape,
    values: Record<string, unknown>,
    claim: IdempotencyClaim
  ): Promise<WriteResult> {
    const prepared = this.statements.shaped('tasks_keyed_write', { write, withBody: claim.status !== 204 }, this.prepare)
    const [row] = await prepared.execute({ ...values, ...claimValues(userId, claim) }).catch(recurrenceWithoutDueDate)
    if (row?.existing) return recordedResponse(row.existing)
    return row?.written ?? undefined
  }

  /** `with …, written as (write), existing as (the live key), recorded as (insert the key) select … from written full join existing`. */
  private readonly prepare = (shape: ClaimedShape, name: string) => {
    const { orm } = this
    const { with: ctes, statement } = writeStatement(orm, shape.write)
    const written = orm.$with('written', TASK_COLUMNS).as(statement.getSQL())
    const existing = orm.$with('existing').as(orm.select().from(idempotencyKeys).where(liveKey))
    const record = orm
      .select({
        user_id: sql`${slot('userId')}`,
        key: sql`${slot('idempotencyKey')}`,
        fingerprint: sql`${slot('keyFingerprint')}`,
        status: sql`${slot('keyStatus')}`,
        task: shape.withBody ? sql`to_jsonb(${written})` : sql`null`,
        created_at: sql`${sql.param(slot('keyRecordedAt'), idempotencyKeys.created_at)}`,
      })
      .from(written)
    const recorded = orm.$with('recorded', {}).as(orm.insert(idempotencyKeys).select(record as never).getSQL())
    return orm.with(...ctes, written, existing, recorded).select().from(written).fullJoin(existing, sql`true`).prepare(name)
  }

  /** The record of the caller's key, when it is live. */
  private async recordedResponse (userId: string, claim: IdempotencyClaim): Promise<RecordedResponse | undefined> {
    const [stored] = await this.recordedKey.execute(claimValues(userId, claim))
    return stored && recordedResponse(stored)
  }
}

/** A claim's values for its statements' placeholders; keys recorded at or before `keyExpiredBy` are expired. */
function claimValues (userId: string, claim: IdempotencyClaim): Record<string, unknown> {
  return {
    userId,
    idempotencyKey: claim.key,
    keyFingerprint: claim.fingerprint,
    keyStatus: claim.status,
    keyRecordedAt: claim.now,
    keyExpiredBy: new Date(claim.now.getTime() - IDEMPOTENCY_KEY_LIFETIME_MS),
  }
}

/** A stored record as the first response: its task is the written row as JSON, mapped like any other row. */
function recordedResponse (row: IdempotencyKeyRow): RecordedResponse {
  return new RecordedResponse(row.fingerprint, row.status, row.task === null ? null : taskOf(row.task as TaskRow))
}
