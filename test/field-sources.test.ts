import t from 'tap'
import type { Static } from '@sinclair/typebox'
import { getTableColumns } from 'drizzle-orm'
import { tasks } from '../src/db/schema.js'
import { TASK_COLUMNS } from '../src/repositories/tasks/columns.js'
import type { TaskFields } from '../src/repositories/tasks.js'
import { Task, TaskCreate, TaskUpdate } from '../src/schemas/task.js'
import { bearer, buildApp, json, type TaskJson } from './support/app.js'

/** true only when A and B are the same type. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false

/**
 * Checked by the compiler, not at run time: `npm run typecheck` (run by CI) fails while a derived type drifts from
 * the schema: TaskFields are its writable fields, TaskJson has its properties, its enums, and dates as strings.
 */
export type DerivedTypesMatchTheSchema = [
  Same<keyof TaskFields, keyof Static<typeof TaskUpdate>>,
  Same<keyof TaskJson, keyof Static<typeof Task>>,
  Same<TaskJson['priority'], 'low' | 'medium' | 'high'>,
  Same<TaskJson['due_date'], string | null>
] extends true[] ? true : never
const derivedTypesMatch: DerivedTypesMatchTheSchema = true

/**
 * A field has one source: its column in src/db/schema.ts and its property in src/schemas/task.ts. Everything else
 * (the repository's columns, row mapper and write fields, the recurrence spawn's copy, TaskJson, the benchmark's
 * ceiling) derives from them; these checks fail when the two sources drift apart.
 */
t.test('the table and the Task schema name the same fields (the version goes out as the ETag)', async (t) => {
  const { version: _version, ...wire } = TASK_COLUMNS
  t.same(Object.keys(wire), Object.keys(Task.properties), 'the wire columns, in order, are the schema properties')
  const columns = Object.keys(getTableColumns(tasks))
  for (const name of Object.keys(TaskUpdate.properties)) t.ok(columns.includes(name), `writable field ${name} is a column`)
  t.same(Object.keys(TaskCreate.properties).sort(), Object.keys(TaskUpdate.properties).sort(), 'create and update write the same fields')
})

t.test('a task read and written carries exactly the schema’s properties, each mapped from its column', async (t) => {
  t.equal(derivedTypesMatch, true)
  const app = await buildApp(t)
  const auth = bearer('field-sources')
  const payload = { title: 'Every field', description: 'd', priority: 'high', tags: ['a'], due_date: '2027-01-31T09:00:00.000Z', recurrence: 'monthly' }
  const created = json<TaskJson>(await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload }))
  t.same(Object.keys(created), Object.keys(Task.properties), 'created: the schema’s properties, in order')
  const completed = json<TaskJson>(await app.inject({ method: 'PATCH', url: `/api/tasks/${created.id}/complete`, headers: auth, payload: { completed: true } }))
  const next = json<TaskJson>(await app.inject({ url: `/api/tasks/${completed.next_task_id}`, headers: auth }))
  t.same(Object.keys(next), Object.keys(Task.properties), 'read: the same properties')
  t.match(next, { title: 'Every field', description: 'd', priority: 'high', tags: ['a'], recurrence: 'monthly', completed: false, completed_at: null, next_task_id: null })
  // The answers above pass through the response schema, which drops what it does not name: the repository's own
  // tasks must carry every wire column, each decoded (timestamps as Dates), and nothing more.
  for (const id of [created.id, next.id]) {
    const stored = await app.taskRepository.get('field-sources', id)
    t.same(Object.keys(stored ?? {}), Object.keys(TASK_COLUMNS), `repository task ${id}: every wire column, in order`)
    t.type(stored?.created_at, Date, 'timestamps are Dates')
  }
})
