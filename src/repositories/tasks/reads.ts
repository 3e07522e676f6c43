import { and, count, eq, ne, sql, type SQL } from 'drizzle-orm'
import type { Orm } from '../../db/database.js'
import { PRIORITIES, tasks } from '../../db/schema.js'
import type { PreparedStatements } from '../prepared-statements.js'
import { live, slot, target, targetValues, TASK_COLUMNS } from './columns.js'
import { rowsOf, taskOf, type TaskRow } from './rows.js'
import type { Task, TaskStats } from './types.js'

/** Reads of one task, or of counts: statements of a single shape, prepared when the repository is made. */
export class TaskReads {
  private readonly getOne
  private readonly countAll
  private readonly ownedElsewhere

  constructor (orm: Orm, statements: PreparedStatements) {
    this.getOne = statements.single('tasks_get', (name) => orm.select(TASK_COLUMNS).from(tasks).where(target(false)).prepare(name))
    this.countAll = statements.single('tasks_stats', (name) => prepareStats(orm, name))
    this.ownedElsewhere = statements.single('tasks_owned_elsewhere', (name) =>
      orm
        .select({ id: tasks.id })
        .from(tasks)
        .where(and(eq(tasks.id, slot('id')), ne(tasks.user_id, slot('userId')), live))
        .prepare(name)
    )
  }

  async get (userId: string, id: string): Promise<Task | undefined> {
    const [row] = await rowsOf<TaskRow>(this.getOne, targetValues(userId, id, undefined))
    return row && taskOf(row)
  }

  /** Counts in one pass over the caller's tasks; overdue and per-priority counts are of pending tasks. */
  async stats (userId: string): Promise<TaskStats> {
    const [row] = await this.countAll.execute({ userId })
    const { total, completed, overdue, ...byPriority } = row as Record<string, number>
    return {
      total: total!,
      completed: completed!,
      pending: total! - completed!,
      overdue: overdue!,
      by_priority: byPriority as TaskStats['by_priority'],
    }
  }

  /**
   * Whether a task the caller does not own exists under this id, so a miss can be told apart as 403 or 404.
   * It answers a yes or no and never reads another user's row.
   */
  async belongsToAnotherUser (userId: string, id: string): Promise<boolean> {
    return (await this.ownedElsewhere.execute({ userId, id })).length > 0
  }
}

function prepareStats (orm: Orm, name: string) {
  const pending = sql`not ${tasks.completed}`
  const counted = (condition: SQL) => sql<number>`count(*) filter (where ${condition})`.mapWith(Number)
  return orm
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
