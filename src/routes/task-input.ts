import type { TaskFields } from '../repositories/tasks.js'

/**
 * Normalises a task body before validation, so the limits count what is stored: title and description are
 * trimmed (a blank description is no description); tags are trimmed, lower-cased and de-duplicated in order.
 * Values of the wrong type are left for validation to refuse.
 */
export function normalizeTaskInput(body: unknown): void {
  if (typeof body !== 'object' || body === null) return
  const fields = body as Record<string, unknown>
  if (typeof fields.title === 'string') fields.title = fields.title.trim()
  if (typeof fields.description === 'string') fields.description = fields.description.trim() || null
  if (Array.isArray(fields.tags)) {
    const tags = fields.tags.map((tag: unknown) => (typeof tag === 'string' ? tag.trim().toLowerCase() : tag))
    fields.tags = tags.filter((tag, index) => typeof tag !== 'string' || tags.indexOf(tag) === index)
  }
}

/** A validated body as the repository takes it: the due date as a Date. */
export function taskFields<T extends { due_date?: string | null }>(body: T): Omit<T, 'due_date'> & Pick<Partial<TaskFields>, 'due_date'> {
  const { due_date, ...rest } = body
  return due_date === undefined ? rest : { ...rest, due_date: due_date === null ? null : new Date(due_date) }
}

/**
 * Query strings before validation: `priority=low,high` means `priority=low&priority=high`, and tags are matched
 * as they are stored (trimmed, lower-cased).
 */
export function normalizeListQuery(query: unknown): void {
  const params = query as Record<string, string | string[] | undefined>
  const list = (value: string | string[]) => (Array.isArray(value) ? value : [value])
  if (params.priority !== undefined) params.priority = list(params.priority).flatMap((value) => value.split(','))
  if (params.tag !== undefined) params.tag = list(params.tag).map((value) => value.trim().toLowerCase())
}
