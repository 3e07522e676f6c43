import { sql } from 'drizzle-orm'
import type { Orm } from '../../src/db/database.js'

/** The users the load is spread over; the one with many tasks; the ones that only fill the table. */
export const USER_PREFIX = 'bench-user-'
export const BIG_USER = 'bench-big-user'
const FILLER_PREFIX = 'bench-filler-'

export const userId = (index: number) => `${USER_PREFIX}${String(index).padStart(5, '0')}`

/**
 * `users` × `tasksPerUser` tasks in one INSERT … SELECT over generate_series, named `<prefix>00001`… (or
 * exactly `prefix` when `users` is 1). Deterministic variety from a hash of (user, task): 30% completed,
 * priorities low 30% / medium 45% / high 25%, a few tag sets, half with a due date (from 30 days ago to 60 days
 * ahead), a tenth of those recurring, 60% with a description; created over the past days, oldest first.
 */
export async function insertTasks (orm: Orm, prefix: string, users: number, tasksPerUser: number, firstUser = 1): Promise<void> {
  const owner = users === 1 ? sql`${prefix}::text` : sql`${prefix}::text || lpad(u::text, 5, '0')`
  await orm.execute(sql`
    insert into tasks (id, user_id, title, description, completed, completed_at, priority, tags, due_date, recurrence, created_at, updated_at)
    select gen_random_uuid(), ${owner},
      (array['Buy milk', 'Call the bank', 'Write the report', 'Fix the login bug', 'Plan the trip', 'Pay the bills',
        'Read a chapter', 'Review the pull request'])[1 + r % 8] || ' #' || n,
      case when r / 8 % 5 < 3 then 'Notes for task ' || n || ': remember the details and check them twice.' end,
      done, case when done then finished_at end,
      case when r / 40 % 20 < 6 then 'low' when r / 40 % 20 < 15 then 'medium' else 'high' end,
      cast((array['{}', '{work}', '{home}', '{work,urgent}', '{errands}', '{home,weekly}', '{}', '{reading}'])[1 + r / 800 % 8] as text[]),
      due, case when due is not null and r / 6400 % 10 = 0 then (array['daily', 'weekly', 'monthly'])[1 + r / 64000 % 3] end,
      created, case when done then finished_at else created end
    from generate_series(${firstUser}::int, ${firstUser + users - 1}::int) as u,
      generate_series(1, ${tasksPerUser}::int) as n,
      lateral (select abs(hashint8(u::bigint * 1000003 + n)::bigint) as r) as hashed,
      lateral (select
        r % 10 < 3 as done,
        date_trunc('milliseconds', now() - make_interval(mins => ((${tasksPerUser}::int - n) * 37 + r % 30)::int)) as created,
        case when r / 3 % 2 = 0 then date_trunc('milliseconds', now() + make_interval(hours => (r % 2160 - 720)::int)) end as due
      ) as picked,
      lateral (select least(created + interval '1 day', date_trunc('milliseconds', now())) as finished_at) as finished`)
}

/** The main data set: `users` × `tasksPerUser`, plus one user with `bigUserTasks`; then statistics. */
export async function seed (orm: Orm, counts: { users: number; tasksPerUser: number; bigUserTasks: number }): Promise<void> {
  await insertTasks(orm, USER_PREFIX, counts.users, counts.tasksPerUser)
  await insertTasks(orm, BIG_USER, 1, counts.bigUserTasks)
  await vacuum(orm)
}

/** Grows the table to about `total` rows with users nobody logs in as, 100 tasks each, in chunks of 100,000. */
export async function fillTo (orm: Orm, total: number, log: (line: string) => void): Promise<void> {
  const CHUNK_USERS = 1000
  let present = await countTasks(orm)
  let nextUser = 1
  while (present < total) {
    const users = Math.min(CHUNK_USERS, Math.ceil((total - present) / 100))
    await insertTasks(orm, FILLER_PREFIX, users, 100, nextUser)
    nextUser += users
    present += users * 100
    log(`  ${present.toLocaleString('en')} tasks`)
  }
  await vacuum(orm)
}

export async function countTasks (orm: Orm): Promise<number> {
  const result = await orm.execute(sql`select count(*) as count from tasks`)
  return Number(rowsOf<{ count: string | number }>(result)[0]!.count)
}

/** Fresh statistics and a clean visibility map, so plans and index-only scans are as in a settled database. */
export async function vacuum (orm: Orm): Promise<void> {
  await orm.execute(sql`vacuum (analyze) tasks`)
}

/** node-postgres answers `{ rows }`; PGlite too. */
export function rowsOf<T> (result: unknown): T[] {
  return (result as { rows: T[] }).rows
}
