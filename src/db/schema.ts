import { sql } from 'drizzle-orm'
import { boolean, check, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'

/** Millisecond precision: what the wire format and a JavaScript Date carry, so a stored value round-trips exactly. */
const timestamptz = (name: string) => timestamp(name, { withTimezone: true, precision: 3 })

/** Column keys are the API's snake_case field names, so a row is already the wire shape. */
export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey(),
    user_id: text('user_id').notNull(),
    title: text('title').notNull(),
    description: text('description'),
    completed: boolean('completed').notNull().default(false),
    completed_at: timestamptz('completed_at'),
    created_at: timestamptz('created_at').notNull().defaultNow(),
    updated_at: timestamptz('updated_at').notNull().defaultNow(),
  },
  (table) => [
    // One index per list order, each leading with the owner, so every list is an index range scan.
    index('tasks_user_created_idx').on(table.user_id, table.created_at, table.id),
    index('tasks_user_updated_idx').on(table.user_id, table.updated_at, table.id),
    index('tasks_user_title_idx').on(table.user_id, sql`lower(${table.title})`, table.id),
    // The API validates these too; the database keeps them true whatever client writes.
    check('tasks_title_length', sql`char_length(${table.title}) between 1 and 200`),
    check('tasks_description_length', sql`char_length(${table.description}) between 1 and 1000`),
    check('tasks_completed_at_set_when_completed', sql`${table.completed} = (${table.completed_at} is not null)`),
  ],
)

export type TaskRow = typeof tasks.$inferSelect
