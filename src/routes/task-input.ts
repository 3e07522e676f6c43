/**
 * Trims the text fields of a task body before validation, so the limits count what is stored; a blank
 * description is no description. Non-string values are left for validation to refuse.
 */
export function normalizeTaskText(body: unknown): void {
  if (typeof body !== 'object' || body === null) return
  const fields = body as Record<string, unknown>
  if (typeof fields.title === 'string') fields.title = fields.title.trim()
  if (typeof fields.description === 'string') fields.description = fields.description.trim() || null
}
