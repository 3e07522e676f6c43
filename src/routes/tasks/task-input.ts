import { invalidRequest } from '../../http/problem.js'
import type { TaskFields } from '../../repositories/tasks.js'
import { MAX_TAG_LENGTH_AS_SENT, MAX_TAGS, MAX_TAGS_AS_SENT } from '../../schemas/task.js'

/**
 * Normalises a task body before validation, so the limits count what is stored: title and description are
 * trimmed (a blank description is no description); tags are trimmed, lower-cased and de-duplicated in order.
 * Values of the wrong type are left for validation to refuse. Tags as sent are bounded first (a 422), so the
 * work stays small whatever the body limit.
 */
export function normalizeTaskInput (body: unknown): void {
  if (typeof body !== 'object' || body === null) return
  const fields = body as Record<string, unknown>
  if (typeof fields.title === 'string') fields.title = fields.title.trim()
  if (typeof fields.description === 'string') fields.description = fields.description.trim() || null
  if (Array.isArray(fields.tags)) fields.tags = normalizeTags(fields.tags)
}

/** Tags trimmed, lower-cased and de-duplicated in order, in one pass; anything not a string is kept for validation. */
function normalizeTags (sent: unknown[]): unknown[] {
  if (sent.length > MAX_TAGS_AS_SENT) {
    throw invalidRequest([{
      path: '/body/tags',
      message: `must have at most ${MAX_TAGS_AS_SENT} items as sent (and ${MAX_TAGS} once duplicates are dropped)`,
    }])
  }
  const seen = new Set<string>()
  const tags: unknown[] = []
  for (const [index, tag] of sent.entries()) {
    if (typeof tag !== 'string') {
      tags.push(tag)
      continue
    }
    if (tag.length > MAX_TAG_LENGTH_AS_SENT) {
      throw invalidRequest([{
        path: `/body/tags/${index}`,
        message: `must be at most ${MAX_TAG_LENGTH_AS_SENT} characters before trimming`,
      }])
    }
    const normalized = tag.trim().toLowerCase()
    if (seen.has(normalized)) continue
    seen.add(normalized)
    tags.push(normalized)
  }
  return tags
}

/** A validated body as the repository takes it: the due date as a Date. */
export function taskFields<T extends { due_date?: string | null }> (body: T): Omit<T, 'due_date'> & Pick<Partial<TaskFields>, 'due_date'> {
  const { due_date, ...rest } = body
  return due_date === undefined ? rest : { ...rest, due_date: due_date === null ? null : instant(due_date, '/body/due_date') }
}

/**
 * Years 1000 to 9999 in UTC: RFC 3339 writes four-digit years only, and the drivers read timestamps back with
 * `new Date('0031-12-31 23:59:59+00')`, which V8 takes for 1931 or 2031 below year 100.
 */
const EARLIEST = Date.parse('1000-01-01T00:00:00.000Z')
const LATEST = Date.parse('9999-12-31T23:59:59.999Z')

/**
 * A validated date-time as a Date; a 422 naming `path` when it is not a real instant (a leap second such as
 * `23:59:60`) or falls outside years 1000–9999 in UTC.
 */
export function instant (text: string, path: string): Date {
  const date = new Date(text)
  if (date.getTime() >= EARLIEST && date.getTime() <= LATEST) return date
  throw invalidRequest([{ path, message: 'must be an instant between 1000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z' }])
}

/**
 * Query strings before validation: `priority=low,high` means `priority=low&priority=high`, and tags are matched
 * as they are stored (trimmed, lower-cased).
 */
export function normalizeListQuery (query: unknown): void {
  const params = query as Record<string, string | string[] | undefined>
  if (params.priority !== undefined) params.priority = list(params.priority).flatMap((value) => value.split(','))
  if (params.tag !== undefined) params.tag = list(params.tag).map((value) => value.trim().toLowerCase())
}

/** A repeated query parameter arrives as an array, a single one as a string. */
function list (value: string | string[]): string[] {
  return Array.isArray(value) ? value : [value]
}
