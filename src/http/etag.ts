import type { ExpectedVersions } from '../repositories/tasks.js'

/** A task's strong ETag: its version, which changes whenever the stored task does, and only then. */
export function etagOf (task: { version: number }): string {
  return `"${task.version}"`
}

/**
 * The versions an `If-Match` header accepts: undefined when the header is absent or `*` (any current task);
 * otherwise those of its strong entity tags. If-Match compares strongly (RFC 9110 §13.1.1), character for
 * character, so a weak tag, or one that is not exactly one of our ETags (`"01"`), matches nothing: the write is
 * refused rather than done unconditionally. The header's syntax is validated before (ENTITY_TAGS_PATTERN).
 */
export function ifMatchVersions (header: string | undefined): ExpectedVersions {
  if (header === undefined || header === '*') return undefined
  const versions: number[] = []
  for (const [, weak, opaque] of header.matchAll(ENTITY_TAG)) {
    const version = weak === undefined ? versionOf(opaque!) : undefined
    if (version !== undefined) versions.push(version)
  }
  return versions
}

/** Whether an `If-None-Match` header matches the task's current ETag; weak comparison (RFC 9110 §13.1.2). */
export function ifNoneMatchMatches (header: string | undefined, task: { version: number }): boolean {
  if (header === undefined) return false
  if (header === '*') return true
  const current = String(task.version)
  for (const [, , opaque] of header.matchAll(ENTITY_TAG)) if (opaque === current) return true
  return false
}

/** An entity tag of a validated header: `W/` when weak, and the text between the quotes (which holds no `"`). */
const ENTITY_TAG = /(W\/)?"([^"]*)"/g

/** The largest version the database can hold (an `integer`). */
const MAX_VERSION = 2 ** 31 - 1

/** A tag's text as one of our versions: digits as etagOf writes them (no sign, no leading zero), else undefined. */
function versionOf (opaque: string): number | undefined {
  if (!/^[1-9]\d{0,9}$/.test(opaque)) return undefined
  const version = Number(opaque)
  return version <= MAX_VERSION ? version : undefined
}
