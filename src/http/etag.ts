import type { ExpectedVersions } from '../repositories/tasks.js'

/** A task's strong ETag: its version, which changes whenever the stored task does, and only then. */
export function etagOf(task: { version: number }): string {
  return `"${task.version}"`
}

/**
 * The versions an `If-Match` header accepts: undefined when the header is absent or `*` (any current task);
 * otherwise those of its strong entity tags. If-Match compares strongly (RFC 9110 §13.1.1), so a weak or
 * malformed tag matches nothing: the write is refused rather than done unconditionally.
 */
export function ifMatchVersions(header: string | undefined): ExpectedVersions {
  if (header === undefined || header.trim() === '*') return undefined
  return entityTags(header)
    .filter((tag) => !tag.startsWith('W/'))
    .flatMap(versionOf)
}

/** Whether an `If-None-Match` header matches the task's current ETag; weak comparison (RFC 9110 §13.1.2). */
export function ifNoneMatchMatches(header: string | undefined, task: { version: number }): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  return entityTags(header).some((tag) => versionOf(tag.replace(/^W\//, ''))[0] === task.version)
}

function entityTags(header: string): string[] {
  return header.split(',').map((tag) => tag.trim())
}

/** `"3"` → [3]; anything else is not one of our ETags → []. */
function versionOf(tag: string): number[] {
  const match = /^"(\d{1,9})"$/.exec(tag)
  return match ? [Number(match[1])] : []
}
