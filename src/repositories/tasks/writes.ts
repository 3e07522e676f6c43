import { and, eq } from 'drizzle-orm'
import type { Orm } from '../../db/database.js'
import { tasks } from '../../db/schema.js'
import { uuidv7 } from '../../db/uuidv7.js'
import type { PreparedStatements } from '../prepared-statements.js'
import { live, slot, targetValues, TASK_COLUMNS } from './columns.js'
import { IdempotentWrites } from './idempotency.js'
import { rowsOf, taskOf, type TaskRow } from './rows.js'
import type { ExpectedVersions, IdempotencyClaim, RecordedResponse, Task, TaskFields, WriteResult } from './types.js'
import { fieldsShape, seriesDayValue } from './write-fields.js'
import { recurrenceWithoutDueDate, TOMBSTONE, writeStatement, type WriteShape } from './write-statements.js'

/**
 * Task writes, each one statement: its shape picks the prepared statement, its values fill it. It runs as
 * `with …, written as (statement) select … from written`, so the same statement serves a plain write and one
 * that records an Idempotency-Key beside it.
 */
export class TaskWrites {
  private readonly idempotent: IdempotentWrites
  private readonly clearCompleted

  constructor (
    private readonly orm: Orm,
    private readonly statements: PreparedStatements
  ) {
    this.idempotent = new IdempotentWrites(orm, statements)
    this.clearCompleted = statements.single('tasks_clear_completed', (name) =>
      orm
        .update(tasks)
        .set(TOMBSTONE)
        .where(and(eq(tasks.user_id, slot('userId')), live, eq(tasks.completed, true)))
        .returning({ id: tasks.id })
        .prepare(name)
    )
  }

  async create (
    userId: string,
    fields: Pick<TaskFields, 'title'> & Partial<TaskFields>,
    claim?: IdempotencyClaim
  ): Promise<Task | RecordedResponse> {
    const values = { ...fields, ...seriesDayValue(fields), id: uuidv7(), userId }
    return (await this.run(userId, { write: 'create', fields: fieldsShape(fields) }, values, claim))!
  }

  /** Applies the given fields; see write-statements.ts for what moves with them. */
  async update (
    userId: string,
    id: string,
    changes: Partial<TaskFields>,
    expected?: ExpectedVersions,
    claim?: IdempotencyClaim
  ): Promise<WriteResult> {
    const shape: WriteShape = { write: 'update', fields: fieldsShape(changes), conditional: expected !== undefined }
    const values = {
      ...changes,
      ...seriesDayValue(changes),
      ...targetValues(userId, id, expected),
      ...(changes.completed === true && { spawnId: uuidv7() }),
    }
    return this.run(userId, shape, values, claim)
  }

  /** Flips `completed` in one statement, so two concurrent toggles cannot both read the same old value. */
  async toggleCompleted (userId: string, id: string, expected?: ExpectedVersions, claim?: IdempotencyClaim): Promise<WriteResult> {
    const values = { ...targetValues(userId, id, expected), spawnId: uuidv7() }
    return this.run(userId, { write: 'toggle', conditional: expected !== undefined }, values, claim)
  }

  /** Leaves a tombstone for sync; every other query treats the task as gone. */
  async delete (userId: string, id: string, expected?: ExpectedVersions, claim?: IdempotencyClaim): Promise<WriteResult> {
    return this.run(userId, { write: 'delete', conditional: expected !== undefined }, targetValues(userId, id, expected), claim)
  }

  /** Deletes the caller's completed tasks (leaving tombstones) and says how many. */
  async deleteCompleted (userId: string): Promise<number> {
    return (await this.clearCompleted.execute({ userId })).length
  }

  /** Runs a write in one statement; with a claim, the statement records the key too (see IdempotentWrites). */
  private async run (
    userId: string,
    shape: WriteShape,
    values: Record<string, unknown>,
    claim: IdempotencyClaim | undefined
  ): Promise<WriteResult> {
    if (claim !== undefined) return this.idempotent.run(userId, shape, values, claim)
    const prepared = this.statements.shaped('tasks_write', shape, this.prepare)
    const [row] = await rowsOf<TaskRow>(prepared, values).catch(recurrenceWithoutDueDate)
    return row && taskOf(row)
  }

  /** A write's statement, `with …, written as (write) select … from written`. */
  private readonly prepare = (shape: WriteShape, name: string) => {
    const { with: ctes, statement } = writeStatement(this.orm, shape)
    const written = this.orm.$with('written', TASK_COLUMNS).as(statement.getSQL())
    return this.orm.with(...ctes, written).select().from(written).prepare(name)
  }
}
